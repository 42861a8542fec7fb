package gateway

import (
	"context"
	"fmt"

	"intransit/p2s"
	"intransit/tunnel/control"
)

// Disconnected is the detail a client is told when an operator ends its
// session with Disconnect.
const Disconnected = "session ended by the gateway's operator"

// Disconnect ends the current session of the enrolled client called name
// (ReasonShutdown, so the client reconnects) and nothing else: its record,
// address lease and certificate stay, so it comes back by itself with the
// same addresses. A name without a session is p2s.ErrNotFound. ctx is
// unused: closing a session does not block.
func (g *Gateway) Disconnect(_ context.Context, name string) error {
	if !g.endSession(name, control.ReasonShutdown, Disconnected) {
		return fmt.Errorf("no session of a client called %q on this gateway: %w", name, p2s.ErrNotFound)
	}
	g.log.Info("p2s client session ended by the operator", "client", name)
	return nil
}

// endSession closes the current session of the client called name, if it
// has one, telling it reason and detail; its peer goes when the session
// finishes. It reports whether there was a session.
func (g *Gateway) endSession(name string, reason control.Reason, detail string) bool {
	g.mu.Lock()
	s := g.sessions[name]
	g.mu.Unlock()
	if s == nil {
		return false
	}
	s.sess.Close(reason, detail)
	return true
}
