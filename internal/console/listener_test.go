package console

import (
	"net"
	"testing"
)

func TestLimitListener(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := LimitListener(raw, 2, 10)
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := dial(), dial()
	defer a.Close()
	defer b.Close()
	sa, sb := <-accepted, <-accepted
	// A third connection from the same address is closed by the server:
	// the client reads EOF.
	c := dial()
	defer c.Close()
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("third connection read %d bytes, want it closed", n)
	}
	// Closing one frees a slot.
	sa.Close()
	d := dial()
	defer d.Close()
	sd := <-accepted
	if sd == nil {
		t.Fatal("no connection after a slot was freed")
	}
	sb.Close()
	sd.Close()
	if l := ln.(*limitListener); l.all != 0 || len(l.bySrc) != 0 {
		t.Fatalf("slots not given back: %d, %v", l.all, l.bySrc)
	}
}
