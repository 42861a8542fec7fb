package s2s

import (
	"errors"

	"intransit/tunnel/transport"
)

// sessionPath is the session's WireGuard peer as the path monitor drives
// it. Every method fails once the session is no longer the remote's.
type sessionPath struct{ ss *sessionState }

var errNotCurrent = errors.New("the session is no longer the remote's")

// Observe reports the peer.
func (p sessionPath) Observe() (transport.Observation, error) {
	ss, r := p.ss, p.ss.remote
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != ss {
		return transport.Observation{}, errNotCurrent
	}
	ps, err := r.g.dev.Peer(ss.pub)
	if err != nil {
		return transport.Observation{}, err
	}
	rep := r.g.dev.LastProbeReply(ss.pub)
	return transport.Observation{ReplySent: rep.Sent, ReplyReceived: rep.Received, LastHandshake: ps.LastHandshake, Endpoint: ps.Endpoint}, nil
}

// Probe sends a probe to the remote.
func (p sessionPath) Probe() error {
	ss, r := p.ss, p.ss.remote
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != ss {
		return errNotCurrent
	}
	return r.g.dev.SendProbe(ss.pub)
}

// Apply points the peer at ep; the dialing side's keepalive starts with
// the first change.
func (p sessionPath) Apply(ep string, renew bool) error {
	ss, r := p.ss, p.ss.remote
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != ss {
		return errNotCurrent
	}
	ss.pc.Endpoint = ep
	ss.pc.PersistentKeepalive = peerKeepalive
	if renew {
		return r.g.peers.Renew(r.owner, ss.pc)
	}
	return r.g.peers.Update(r.owner, ss.pc)
}
