package tls

import (
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// setUserTimeout makes the kernel end a TCP connection whose sent data has
// gone unacknowledged for d (TCP_USER_TIMEOUT), so that a connection whose
// path died (the peer moved, a link went down) fails within d instead of
// after the minutes of retransmissions TCP would otherwise spend.
func setUserTimeout(c *net.TCPConn, d time.Duration) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("TCP_USER_TIMEOUT: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d.Milliseconds()))
	}); err != nil {
		return fmt.Errorf("TCP_USER_TIMEOUT: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("TCP_USER_TIMEOUT %v: %w", d, serr)
	}
	return nil
}
