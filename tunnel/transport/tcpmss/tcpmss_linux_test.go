package tcpmss

import (
	"context"
	"net"
	"syscall"
	"testing"

	"intransit/tunnel/transport"
)

func mssOf(t *testing.T, c net.Conn) int {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var mss int
	var gerr error
	if err := rc.Control(func(fd uintptr) { mss, gerr = getMSS(fd) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return mss
}

// TestListenerClampsBothWays: a clamped listening socket hands its clamp to
// the connections it accepts, and advertises it, so that the unclamped
// dialer's segments shrink too; loopback's 64 KiB MTU would allow far more.
func TestListenerClampsBothWays(t *testing.T) {
	lc := net.ListenConfig{Control: Control(transport.MinPathMTU, nil)}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	a, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer a.Close()
	limit := transport.TCPMSS(transport.MinPathMTU)
	if m := mssOf(t, a); m <= 0 || m > limit {
		t.Errorf("accepted connection's MSS is %d, want 1..%d", m, limit)
	}
	if m := mssOf(t, d); m <= 0 || m > limit {
		t.Errorf("dialer's MSS is %d, want 1..%d (the listener advertises its clamp)", m, limit)
	}
}

func TestControlChains(t *testing.T) {
	called := false
	d := net.Dialer{Control: Control(0, func(string, string, syscall.RawConn) error { called = true; return nil })}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if !called {
		t.Error("the next Control function was not called")
	}
}
