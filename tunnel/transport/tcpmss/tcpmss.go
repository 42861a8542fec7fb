// Package tcpmss clamps the segment size of TCP sockets to a path MTU
// (TCP_MAXSEG), so that a connection crossing a path smaller than its local
// link works even where ICMP "packet too big" is dropped: the socket sends
// no larger segments, and advertises the clamped MSS in its SYN or SYN-ACK
// so that the peer sends none either. Set on a listening socket, the clamp
// applies to every connection it accepts.
//
// The control channel and the tls transport use it; the daemon's nftables
// clamp (package s2s) covers the traffic it forwards, which no socket
// option reaches.
package tcpmss

import (
	"fmt"
	"syscall"

	"intransit/tunnel/transport"
)

// Control returns a net.Dialer or net.ListenConfig Control function that
// clamps the socket to pathMTU (transport.TCPMSS), then runs next if it is
// not nil. A pathMTU of 0 leaves the socket alone (and runs next).
func Control(pathMTU int, next func(network, address string, c syscall.RawConn) error) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		if pathMTU != 0 {
			if err := Set(c, transport.TCPMSS(pathMTU)); err != nil {
				return err
			}
		}
		if next != nil {
			return next(network, address, c)
		}
		return nil
	}
}

// Set sets the socket's maximum segment size to mss bytes.
func Set(c syscall.RawConn, mss int) error {
	var serr error
	if err := c.Control(func(fd uintptr) { serr = setMSS(fd, mss) }); err != nil {
		return fmt.Errorf("TCP_MAXSEG: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("TCP_MAXSEG %d: %w", mss, serr)
	}
	return nil
}
