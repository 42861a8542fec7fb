//go:build !linux

package tls

import (
	"net"
	"time"
)

// setUserTimeout does nothing where TCP_USER_TIMEOUT does not exist; dead
// connections are then found by TCP keepalives and the write timeout.
func setUserTimeout(c *net.TCPConn, d time.Duration) error { return nil }
