package gatewaycore

import (
	"log/slog"
	"net"
	"testing"
	"time"
)

func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ref := NewRefusals(slog.New(slog.DiscardHandler), "refused", time.Second)
	ln := LimitListener(inner, 2, 3, ref)
	defer ln.Close()
	dial := func(local string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, err := d.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	accepted := make(chan net.Conn, 8)
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
	a1, _ := dial("127.0.0.2"), dial("127.0.0.2")
	s1, s2 := <-accepted, <-accepted
	over := dial("127.0.0.2") // a third from the same source
	closedByServer(t, over)
	dial("127.0.0.3")
	s3 := <-accepted
	busy := dial("127.0.0.4") // a fourth in all
	closedByServer(t, busy)
	if c := ref.Counts(); c[ReasonSourceLimit] != 1 || c[ReasonBusy] != 1 {
		t.Errorf("refusals %v, want one source_limit and one busy", c)
	}
	// Closing (twice) gives one slot back.
	s1.Close()
	s1.Close()
	a1.Close()
	dial("127.0.0.4")
	<-accepted
	s2.Close()
	s3.Close()
}
