package proxy

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"intransit/tlspolicy"
)

// sinkServer discards what it reads and counts it.
func sinkServer(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// BenchmarkServerModeUpload measures bytes per second from a TLS client
// through a server-mode proxy to a plaintext sink, over one connection.
func BenchmarkServerModeUpload(b *testing.B) {
	f := newFixture(b)
	px := startProxyB(b, f)
	c, err := tls.Dial("tcp", px, &tls.Config{RootCAs: f.ca.Pool(), ServerName: "localhost"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 256<<10)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func startProxyB(b *testing.B, f *fixture) string {
	p, err := tlspolicy.Builtin(tlspolicy.Baseline)
	if err != nil {
		b.Fatal(err)
	}
	tc, err := tlspolicy.ServerConfig(tlspolicy.Options{Profile: p, Certificate: &tlspolicy.StaticCertificate{Cert: f.server.TLS()}})
	if err != nil {
		b.Fatal(err)
	}
	px, err := New(Config{Mode: ModeServer, Target: sinkServer(b), TLS: tc, Profile: p.Name, ShutdownGrace: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	go func() { _ = px.Serve(ctx, ln) }()
	return ln.Addr().String()
}
