package proxy

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"intransit/tlspolicy"
)

// benchTarget discards what it reads, or, when the first byte is 'd',
// writes the number of bytes given by the next 8 bytes.
func benchTarget(b *testing.B) string {
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
				hdr := make([]byte, 9)
				if _, err := io.ReadFull(c, hdr); err != nil {
					return
				}
				if hdr[0] != 'd' {
					_, _ = io.Copy(io.Discard, c)
					return
				}
				buf := make([]byte, 256<<10)
				for left := int64(binary.BigEndian.Uint64(hdr[1:])); left > 0; {
					n, err := c.Write(buf[:min(left, int64(len(buf)))])
					if err != nil {
						return
					}
					left -= int64(n)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// cpuTime returns the user+system CPU time of the process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchConn(b *testing.B) *tls.Conn {
	f := newFixture(b)
	p, err := tlspolicy.Builtin(tlspolicy.Baseline)
	if err != nil {
		b.Fatal(err)
	}
	tc, err := tlspolicy.ServerConfig(tlspolicy.Options{Profile: p, Certificate: &tlspolicy.StaticCertificate{Cert: f.server.TLS()}})
	if err != nil {
		b.Fatal(err)
	}
	px, err := New(Config{Mode: ModeServer, Target: benchTarget(b), TLS: tc, Profile: p.Name, ShutdownGrace: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = px.Serve(ctx, ln); close(done) }()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: f.ca.Pool(), ServerName: "localhost"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(); cancel(); <-done })
	return c
}

// BenchmarkServerModeUpload measures a TLS client sending through a
// server-mode proxy to a plaintext sink over one connection. cpu-ns/B is
// the CPU time of the whole process (client, proxy and sink) per byte,
// which stays meaningful on a busy machine.
func BenchmarkServerModeUpload(b *testing.B) {
	c := benchConn(b)
	if _, err := c.Write(make([]byte, 9)); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 256<<10)
	b.SetBytes(int64(len(buf)))
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(int64(b.N)*int64(len(buf))), "cpu-ns/B")
}

// BenchmarkServerModeDownload measures a plaintext target sending through a
// server-mode proxy to a TLS client over one connection.
func BenchmarkServerModeDownload(b *testing.B) {
	c := benchConn(b)
	buf := make([]byte, 256<<10)
	b.SetBytes(int64(len(buf)))
	hdr := make([]byte, 9)
	hdr[0] = 'd'
	binary.BigEndian.PutUint64(hdr[1:], uint64(b.N)*uint64(len(buf)))
	cpu0 := cpuTime(b)
	b.ResetTimer()
	if _, err := c.Write(hdr); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(int64(b.N)*int64(len(buf))), "cpu-ns/B")
}
