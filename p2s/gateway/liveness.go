package gateway

import "time"

// dataPlaneHeard is the control session's liveness source: when the
// client's last in-tunnel probe arrived (a client probes every second
// while its path monitor runs, see p2s/client), so that a client whose
// tunnel carries its probes is neither pinged nor pings. The first probe
// also turns the client's WireGuard keepalive on (see startKeepalive).
func (s *session) dataPlaneHeard() time.Time {
	heard := s.g.dev.LastProbeRequest(s.pub)
	if !heard.IsZero() && !s.keepalive {
		s.keepalive = s.startKeepalive()
	}
	return heard
}

// startKeepalive turns on the WireGuard keepalive toward the client, and
// reports whether it is on (false when the session is no longer the
// client's or the device refused; the next probe tries again).
//
// The client's peer is created without it (see install): wireguard-go
// sends a keepalive at once when a peer's keepalive goes from off to on,
// and without a session that keepalive starts a handshake initiation,
// which toward a client whose endpoint the gateway does not know yet
// (it learns it from the client's handshake) can only fail, for two
// X25519 operations per connect. Once a probe from the client came through
// the tunnel, the gateway holds a confirmed session (the client sent data
// under the new keys) and the endpoint, so that first keepalive goes out
// under the session: no handshake of its own.
//
// It runs on the session's goroutine, as install does.
func (s *session) startKeepalive() bool {
	g := s.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if !s.attached || g.sessions[s.name] != s {
		return false
	}
	pc := s.pc
	pc.PersistentKeepalive = g.opts.ClientKeepalive
	if err := g.peers.Update(s.owner, pc); err != nil {
		g.log.Debug("p2s client keepalive not set", "client", s.name, "error", err.Error())
		return false
	}
	s.pc = pc
	return true
}
