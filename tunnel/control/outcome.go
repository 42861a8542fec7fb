package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"intransit/tlspolicy"
	"intransit/tunnel/transport/tcpmss"
)

// Listen opens the TCP listener of the control channel on addr. An
// unspecified address (0.0.0.0 or ::) listens on every address of both
// families; any other listens on that address only. The connections it
// accepts have their segments clamped to pathMTU (see tcpmss; 0 leaves
// them alone), so that the channel crosses a small WAN that drops ICMP.
func Listen(ctx context.Context, addr netip.AddrPort, pathMTU int) (net.Listener, error) {
	a := addr.Addr()
	if a.IsUnspecified() {
		a = netip.IPv6Unspecified()
	}
	lc := net.ListenConfig{Control: tcpmss.Control(pathMTU, nil)}
	ln, err := lc.Listen(ctx, "tcp", netip.AddrPortFrom(a, addr.Port()).String())
	if err != nil {
		return nil, fmt.Errorf("control listener: %w", err)
	}
	return ln, nil
}

// Dialer returns the dialer of control connections: connects within
// timeout, segments clamped to pathMTU as Listen's are.
func Dialer(timeout time.Duration, pathMTU int) *net.Dialer {
	return &net.Dialer{Timeout: timeout, Control: tcpmss.Control(pathMTU, nil)}
}

// Outcome says how a session ended, for logs, status and metrics: a stable
// reason code and a detail. err is what Run returned (nil for an orderly
// end); established tells whether the session had got past its Hello, so
// that a broken connection is told apart from a failed handshake. byPeer is
// true when the peer sent the refusal or close, so that callers can say
// which side spoke.
func Outcome(err error, established bool) (reason, detail string, byPeer bool) {
	var se *SessionError
	switch {
	case err == nil:
		return "closed", "", false
	case errors.As(err, &se):
		return se.Reason.String(), se.Detail, se.Remote
	case tlspolicy.IsRefusal(err):
		return string(tlspolicy.ReasonOf(err)), err.Error(), false
	case established:
		return "connection", err.Error(), false
	}
	return string(tlspolicy.ReasonHandshake), err.Error(), false
}
