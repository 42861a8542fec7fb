package audit

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"intransit/internal/testutil/certs"
)

// oddServer accepts connections on loopback and hands each to behave, until
// the test ends; it waits for its handlers before returning from cleanup.
func oddServer(t *testing.T, behave func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				stop := context.AfterFunc(ctx, func() { c.Close() })
				defer stop()
				behave(c)
			})
		}
	})
	return ln.Addr().String()
}

// readHello reads the client's first record, so that closing afterwards is
// a clean close and not a reset.
func readHello(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	var hdr [5]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return
	}
	_, _ = io.CopyN(io.Discard, c, int64(hdr[3])<<8|int64(hdr[4]))
}

// fixedServerHello is a TLS 1.2 ServerHello choosing suite with secure
// renegotiation, framed in a record.
func fixedServerHello(suite uint16) []byte {
	var b cryptobyte.Builder
	b.AddUint8(2)
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint16(0x0303)
		b.AddBytes(make([]byte, 32))
		b.AddUint8(0)
		b.AddUint16(suite)
		b.AddUint8(0)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			b.AddUint16(0xff01)
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(0) })
		})
	})
	msg := b.BytesOrPanic()
	return append([]byte{22, 3, 3, byte(len(msg) >> 8), byte(len(msg))}, msg...)
}

func TestOddServersEndInAClearAnswer(t *testing.T) {
	cases := []struct {
		name    string
		behave  func(net.Conn)
		want    string
		timeout time.Duration
	}{
		{"garbage", func(c net.Conn) {
			readHello(c)
			_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
		}, `does not speak TLS: not TLS: the server answered "HTTP/"...`, 2 * time.Second},
		{"alert for everything", func(c net.Conn) {
			readHello(c)
			_, _ = c.Write([]byte{21, 3, 3, 0, 2, 2, 40})
		}, "TLS 1.2: received fatal alert handshake_failure (40)", 2 * time.Second},
		{"closes mid-record", func(c net.Conn) {
			readHello(c)
			_, _ = c.Write([]byte{22, 3, 3, 0, 80, 2, 0})
		}, "TLS 1.2: connection closed by peer after 7 bytes", 2 * time.Second},
		{"closes at once", func(c net.Conn) {}, "TLS 1.2: connection closed by peer", 2 * time.Second},
		{"never answers", func(c net.Conn) {
			_, _ = io.Copy(io.Discard, c)
		}, "no answer within 300ms", 300 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr := oddServer(t, c.behave)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := Run(ctx, Options{Address: addr, Profile: baseline(t), Timeout: c.timeout})
			if !errors.Is(err, ErrCannotAudit) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got report %v, error %v; want ErrCannotAudit mentioning %q", r, err, c.want)
			}
		})
	}
}

func TestUnreachableEndpoint(t *testing.T) {
	addr := freePort(t)
	_, err := Run(context.Background(), Options{Address: addr, Profile: baseline(t), Timeout: time.Second})
	if !errors.Is(err, ErrCannotAudit) || !strings.Contains(err.Error(), "cannot connect to "+addr) {
		t.Fatalf("got %v, want a cannot-connect error", err)
	}
	if _, err := Run(context.Background(), Options{Address: addr, Profile: baseline(t), Concurrency: -1}); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Fatalf("negative concurrency: got %v", err)
	}
	_, err = Run(context.Background(), Options{Address: "no-port", Profile: baseline(t)})
	if !errors.Is(err, ErrCannotAudit) || !strings.Contains(err.Error(), `"no-port" is not HOST:PORT`) {
		t.Fatalf("got %v, want a bad-target error", err)
	}
}

// A server that sends a ServerHello and then hangs up before its
// certificate, choosing the same suite whatever is offered, is judged: not
// compliant, with the broken parts named.
func TestServerThatClosesAfterServerHello(t *testing.T) {
	addr := oddServer(t, func(c net.Conn) {
		readHello(c)
		_, _ = c.Write(fixedServerHello(0xC02F))
	})
	r, err := Run(context.Background(), Options{Address: addr, Profile: baseline(t), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Compliant {
		t.Fatal("a server that never sends its certificate was reported compliant")
	}
	cert, _ := checkByID(r, "certificate")
	probes, _ := checkByID(r, "probes")
	if cert.Status != Fail || !strings.Contains(cert.Detail, "connection closed by peer") {
		t.Errorf("certificate check %+v", cert)
	}
	if probes.Status != Fail || !strings.Contains(probes.Detail, "server chose suite 0xc02f, which was not offered") {
		t.Errorf("probes check %+v", probes)
	}
	if c, _ := checkByID(r, "protocol.tls1.2"); c.Status != Pass || !r.Protocols[3].Accepted {
		t.Errorf("TLS 1.2 check %+v", c)
	}
}

// legacyServer speaks only SSL 3.0: it picks the first offered suite of
// RC4-SHA and 3DES, takes DEFLATE when offered, sends no renegotiation_info,
// and sends its certificate (an empty list when certDER is nil) and
// ServerHelloDone; anything else gets a protocol_version alert.
func legacyServer(t *testing.T, certDER []byte) string {
	return oddServer(t, func(c net.Conn) {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		var hdr [5]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
		if _, err := io.ReadFull(c, body); err != nil {
			return
		}
		in := cryptobyte.String(body)
		var typ uint8
		var msg, sid, suiteList, comp cryptobyte.String
		var version uint16
		if !in.ReadUint8(&typ) || !in.ReadUint24LengthPrefixed(&msg) || !msg.ReadUint16(&version) ||
			!msg.Skip(32) || !msg.ReadUint8LengthPrefixed(&sid) || !msg.ReadUint16LengthPrefixed(&suiteList) ||
			!msg.ReadUint8LengthPrefixed(&comp) {
			return
		}
		if version != 0x0300 {
			_, _ = c.Write([]byte{21, 3, 0, 0, 2, 2, 70})
			return
		}
		var chosen uint16
		for !suiteList.Empty() && chosen == 0 {
			var s uint16
			suiteList.ReadUint16(&s)
			if s == 0x0005 || s == 0x000A {
				chosen = s
			}
		}
		if chosen == 0 {
			_, _ = c.Write([]byte{21, 3, 0, 0, 2, 2, 40})
			return
		}
		method := uint8(0)
		if slices.Contains([]byte(comp), 1) {
			method = 1
		}
		var b cryptobyte.Builder
		b.AddUint8(2)
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
			b.AddUint16(0x0300)
			b.AddBytes(make([]byte, 32))
			b.AddUint8(0)
			b.AddUint16(chosen)
			b.AddUint8(method)
		})
		b.AddUint8(11)
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
			b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
				if certDER != nil {
					b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(certDER) })
				}
			})
		})
		b.AddUint8(14)
		b.AddUint24(0)
		out := b.BytesOrPanic()
		_, _ = c.Write(append([]byte{22, 3, 0, byte(len(out) >> 8), byte(len(out))}, out...))
	})
}

func TestSSL3ServerFindings(t *testing.T) {
	ca := certs.NewCA(t, "legacy CA")
	leaf := ca.Issue(certs.LeafOptions{CommonName: "localhost", DNSNames: []string{"localhost"}, Key: certs.RSA2048})
	addr := legacyServer(t, leaf.Cert.Raw)
	r, err := Run(context.Background(), Options{Address: addr, ServerName: "localhost", Profile: baseline(t), Roots: ca.Pool(), Timeout: time.Second, ExpiryWindow: testCertWindow})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"protocol.ssl3.0":     "accepted; profile baseline allows TLS 1.2 to TLS 1.3",
		"suite.ssl3.0.0x0005": "TLS_RSA_WITH_RC4_128_SHA accepted; not allowed by profile baseline: RC4 stream cipher",
		"suite.ssl3.0.0x000a": "64-bit block cipher",
		"renegotiation":       "no secure renegotiation (RFC 5746) at SSL 3.0",
		"compression":         "TLS compression (DEFLATE) accepted at SSL 3.0",
	}
	for id, detail := range want {
		c, ok := checkByID(r, id)
		if !ok || c.Status != Fail || !strings.Contains(c.Detail, detail) {
			t.Errorf("check %s = %+v (present %v), want fail mentioning %q", id, c, ok, detail)
		}
	}
	if c, _ := checkByID(r, "certificate.trust"); c.Status != Pass {
		t.Errorf("certificate read from the SSL 3.0 handshake: %+v", c)
	}
	if c, _ := checkByID(r, "probes"); c.Status != Pass {
		t.Errorf("probes: %+v", c)
	}
}

func TestServerWithoutCertificate(t *testing.T) {
	addr := legacyServer(t, nil)
	r, err := Run(context.Background(), Options{Address: addr, Profile: baseline(t), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := checkByID(r, "certificate"); c.Status != Fail || c.Detail != "the server sent no certificate" || r.Certificate != nil {
		t.Errorf("certificate check %+v, report certificate %+v", c, r.Certificate)
	}
}

// A server that never answers old-version hellos cannot be shown to refuse
// them: the protocol checks say so instead of passing.
func TestVersionProbeTimeoutIsNotAPass(t *testing.T) {
	addr := oddServer(t, func(c net.Conn) {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var hdr [5]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
		if _, err := io.ReadFull(c, body); err != nil || len(body) < 6 {
			return
		}
		if body[4] == 3 && body[5] == 3 {
			_, _ = c.Write(fixedServerHello(0xC02F))
			return
		}
		_, _ = io.Copy(io.Discard, c)
	})
	r, err := Run(context.Background(), Options{Address: addr, Profile: baseline(t), Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"protocol.ssl3.0", "protocol.tls1.0", "protocol.tls1.1"} {
		if c, _ := checkByID(r, id); c.Status != Fail || !strings.Contains(c.Detail, "could not show that it is refused: the probe failed (no answer within 500ms") {
			t.Errorf("check %s = %+v", id, c)
		}
	}
	if c, _ := checkByID(r, "protocol.tls1.2"); c.Status != Pass {
		t.Errorf("protocol.tls1.2 = %+v", c)
	}
}
