package gateway

import "time"

// dataPlaneHeard is the control session's liveness source: when the
// client's last in-tunnel probe arrived (a client probes every second
// while its path monitor runs, see p2s/client), so that a client whose
// tunnel carries its probes is neither pinged nor pings.
func (s *session) dataPlaneHeard() time.Time { return s.g.dev.LastProbeRequest(s.pub) }
