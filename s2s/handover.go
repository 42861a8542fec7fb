package s2s

import (
	"crypto/tls"
	"crypto/x509"
	"net/netip"
	"time"

	"intransit/tlspolicy"
	"intransit/tunnel/control"
)

// Certificate handover. A control session keeps the certificates both
// gateways presented when it started, and each gateway cuts a session
// whose peer certificate expires. So that a renewed certificate (see
// pki/renewal) takes over before the old one expires, without the tunnel
// going down, the dialing gateway opens a second session beside the
// running one, which supersedes it: the WireGuard peer stays, its PSK is
// replaced by the new session's as on every rotation, and the old session
// is closed a moment later. The dialer does so when its own certificate
// changed since the session started, and when the remote's certificate
// has passed five sixths of its lifetime (the remote renews at two thirds,
// so the new session carries its new certificate).
const (
	// handoverCheck is how often a dialing remote checks for a handover.
	handoverCheck = 2 * time.Second
	// handoverRetryMin is the least wait before a handover is tried again
	// for the same reason.
	handoverRetryMin = 30 * time.Second
	// supersedeGrace is how long a superseded session runs on.
	supersedeGrace = 2 * time.Second
)

// peerHandoverAt is when a session is moved off peer certificate c.
func peerHandoverAt(c *x509.Certificate) time.Time {
	return c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore) * 5 / 6)
}

// handovers opens a superseding session whenever the current one (dialed
// by this gateway) carries a certificate about to be replaced or expire,
// until the remote is stopped.
func (r *remote) handovers(clientCfg *tls.Config) {
	t := time.NewTicker(handoverCheck)
	defer t.Stop()
	var last time.Time        // the last handover attempt
	var lastPeerSerial string // the peer certificate of the last handover for the peer's sake
	for {
		var now time.Time
		select {
		case <-r.ctx.Done():
			return
		case now = <-t.C:
		}
		r.mu.Lock()
		ss := r.cur
		var peer *x509.Certificate
		var ownAt time.Time
		var addr string
		if ss != nil && ss.monitor != nil && ss.peer != nil && ss.sess != nil && ss.conn != nil && ss.remote == r && ss.role == control.Initiator {
			peer, ownAt, addr = ss.peer.Certificate, ss.ownNotAfter, ss.conn.RemoteAddr().String()
		}
		r.mu.Unlock()
		if peer == nil || now.Sub(last) < handoverCheck*5 {
			continue
		}
		own, err := r.g.id.Own()
		if err != nil {
			continue
		}
		why := ""
		switch serial := tlspolicy.FormatSerial(peer.SerialNumber); {
		case !own.NotAfter.Equal(ownAt):
			why = "own certificate renewed"
		case !now.Before(peerHandoverAt(peer)) && (serial != lastPeerSerial || now.Sub(last) >= max(handoverRetryMin, peer.NotAfter.Sub(peer.NotBefore)/24)):
			why = "remote certificate near its expiry"
			lastPeerSerial = serial
		default:
			continue
		}
		last = now
		ap, err := netip.ParseAddrPort(addr)
		if err != nil && len(r.cfg.Control) > 0 {
			ap = r.cfg.Control[0]
		}
		r.g.log.Info("certificate handover: opening a new session beside the running one", "remote", r.cfg.Name, "why", why)
		r.g.wg.Add(1)
		go func() { defer r.g.wg.Done(); r.dial(clientCfg, ap) }()
	}
}
