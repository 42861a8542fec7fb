package gatewaycore

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
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

func TestHTTPServerLimits(t *testing.T) {
	read := make(chan error, 1)
	srv := NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.Copy(io.Discard, r.Body)
		read <- err
	}), nil, slog.New(slog.DiscardHandler))
	if srv.ReadHeaderTimeout == 0 || srv.ReadTimeout == 0 || srv.WriteTimeout == 0 || srv.IdleTimeout == 0 || srv.MaxHeaderBytes == 0 {
		t.Errorf("a listener facing the internet without every bound: %+v", srv)
	}
	req := httptest.NewRequest(http.MethodPost, "/p2s/v1/enroll", strings.NewReader(strings.Repeat("x", HTTPMaxBodyBytes+1)))
	srv.Handler.ServeHTTP(httptest.NewRecorder(), req)
	var tooLarge *http.MaxBytesError
	if err := <-read; !errors.As(err, &tooLarge) {
		t.Errorf("reading a body over %d bytes: %v, want a MaxBytesError", HTTPMaxBodyBytes, err)
	}
}
