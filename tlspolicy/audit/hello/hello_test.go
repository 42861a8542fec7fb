package hello

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// testServer starts a crypto/tls server on loopback that completes (or fails)
// one handshake per connection.
func testServer(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Certificates = []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, cfg)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_ = tc.HandshakeContext(ctx)
			}()
		}
	}()
	return ln.Addr().String()
}

func exchange(t *testing.T, addr string, ch *ClientHello) (*ServerHello, *Reader, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	rec, err := ch.Records()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(rec); err != nil {
		t.Fatal(err)
	}
	r := NewReader(c)
	m, err := r.Next()
	if err != nil {
		return nil, r, err
	}
	if m.Type != TypeServerHello {
		t.Fatalf("first message type %d, want ServerHello", m.Type)
	}
	sh, err := ParseServerHello(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	return sh, r, nil
}

func TestTLS12HandshakeAgainstCryptoTLS(t *testing.T) {
	addr := testServer(t, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}})
	ch := &ClientHello{
		RecordVersion: VersionTLS10, Version: VersionTLS12,
		CipherSuites: []uint16{0x002F, 0xC02C, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		ServerName:   "localhost", Groups: []uint16{uint16(tls.CurveP384)}, PointFormats: true,
		SignatureSchemes:  []uint16{uint16(tls.ECDSAWithP256AndSHA256)},
		RenegotiationInfo: true, StatusRequest: true,
		CompressionMethods: []uint8{CompressionDeflate, CompressionNull},
	}
	sh, r, err := exchange(t, addr, ch)
	if err != nil {
		t.Fatal(err)
	}
	if sh.NegotiatedVersion() != VersionTLS12 || sh.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 {
		t.Errorf("negotiated 0x%04x suite 0x%04x", sh.NegotiatedVersion(), sh.CipherSuite)
	}
	if !sh.SecureRenegotiation || sh.CompressionMethod != CompressionNull || sh.HelloRetryRequest {
		t.Errorf("server hello %+v", sh)
	}
	m, err := r.Next()
	if err != nil || m.Type != TypeCertificate {
		t.Fatalf("second message %d, %v", m.Type, err)
	}
	certs, err := ParseCertificate(m.Body)
	if err != nil || len(certs) != 1 {
		t.Fatalf("certificates %d, %v", len(certs), err)
	}
	if _, err := x509.ParseCertificate(certs[0]); err != nil {
		t.Fatal(err)
	}
	m, err = r.Next()
	if err != nil || m.Type != TypeServerKeyExchange {
		t.Fatalf("third message %d, %v", m.Type, err)
	}
	if g, err := ParseECDHEKeyExchange(m.Body); err != nil || g != uint16(tls.CurveP384) {
		t.Errorf("server key exchange group %d, %v", g, err)
	}
}

func TestTLS13KeyShareAndHelloRetry(t *testing.T) {
	addr := testServer(t, &tls.Config{MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{tls.CurveP256}})
	key, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	base := ClientHello{
		RecordVersion: VersionTLS10, Version: VersionTLS12, SessionID: make([]byte, 32),
		CipherSuites:      []uint16{tls.TLS_AES_128_GCM_SHA256},
		SignatureSchemes:  []uint16{uint16(tls.ECDSAWithP256AndSHA256)},
		SupportedVersions: []uint16{VersionTLS13},
	}
	withShare := base
	withShare.Groups = []uint16{uint16(tls.CurveP256)}
	withShare.KeyShares = []KeyShare{{Group: uint16(tls.CurveP256), Data: key.PublicKey().Bytes()}}
	sh, r, err := exchange(t, addr, &withShare)
	if err != nil {
		t.Fatal(err)
	}
	if sh.NegotiatedVersion() != VersionTLS13 || sh.KeyShareGroup != uint16(tls.CurveP256) || sh.HelloRetryRequest {
		t.Errorf("server hello %+v", sh)
	}
	if _, err := r.Next(); !errors.Is(err, ErrEncrypted) {
		t.Errorf("after a TLS 1.3 ServerHello got %v, want ErrEncrypted", err)
	}

	noShare := base
	noShare.Groups = []uint16{uint16(tls.CurveP256)}
	sh, _, err = exchange(t, addr, &noShare)
	if err != nil {
		t.Fatal(err)
	}
	if !sh.HelloRetryRequest || sh.KeyShareGroup != uint16(tls.CurveP256) {
		t.Errorf("want a HelloRetryRequest for P-256, got %+v", sh)
	}

	wrongGroup := base
	wrongGroup.Groups = []uint16{uint16(tls.X25519)}
	_, _, err = exchange(t, addr, &wrongGroup)
	var alert *AlertError
	if !errors.As(err, &alert) || alert.Description != 40 {
		t.Errorf("unsupported group: got %v, want handshake_failure alert", err)
	}
}

func TestReaderErrors(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"http", []byte("HTTP/1.1 400 Bad Request\r\n\r\n"), ErrNotTLS},
		{"empty", nil, ErrClosed},
		{"half header", []byte{22, 3}, ErrClosed},
		{"half record", []byte{22, 3, 3, 0, 10, 2, 0}, ErrClosed},
		{"bad version", []byte{22, 4, 1, 0, 1, 0}, ErrNotTLS},
		{"huge record", []byte{22, 3, 3, 0xff, 0xff}, ErrNotTLS},
		{"long alert", []byte{21, 3, 3, 0, 3, 2, 40, 0}, ErrNotTLS},
		{"huge message", []byte{22, 3, 3, 0, 4, 2, 0xff, 0xff, 0xff}, ErrNotTLS},
		{"app data", []byte{23, 3, 3, 0, 1, 0}, ErrEncrypted},
	}
	for _, c := range cases {
		_, err := NewReader(bytes.NewReader(c.in)).Next()
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	_, err := NewReader(bytes.NewReader([]byte{21, 3, 3, 0, 2, 1, 0})).Next()
	if err == nil || err.Error() != "received warning alert close_notify (0)" {
		t.Errorf("warning close_notify: %v", err)
	}
	_, err = NewReader(bytes.NewReader([]byte{21, 3, 1, 0, 2, 2, 70})).Next()
	var alert *AlertError
	if !errors.As(err, &alert) || alert.Description != 70 || err.Error() != "received fatal alert protocol_version (70)" {
		t.Errorf("alert: %v", err)
	}
}

func TestReaderReassemblesFragments(t *testing.T) {
	msg := append([]byte{TypeServerHelloDone, 0, 0, 3}, 1, 2, 3)
	msg = append(msg, TypeCertificateStatus, 0, 0, 0)
	in := []byte{21, 3, 3, 0, 2, 1, 112}
	for _, b := range msg {
		in = append(in, 22, 3, 3, 0, 1, b)
	}
	r := NewReader(bytes.NewReader(append([]byte{20, 3, 3, 0, 1, 1}, in...)))
	m, err := r.Next()
	if err != nil || m.Type != TypeServerHelloDone || !bytes.Equal(m.Body, []byte{1, 2, 3}) {
		t.Fatalf("first: %+v %v", m, err)
	}
	m, err = r.Next()
	if err != nil || m.Type != TypeCertificateStatus || len(m.Body) != 0 {
		t.Fatalf("second: %+v %v", m, err)
	}
}

// serverHelloBody builds a ServerHello body for parser tests.
func serverHelloBody(random []byte, exts func(*cryptobyte.Builder)) []byte {
	var b cryptobyte.Builder
	b.AddUint16(VersionTLS12)
	b.AddBytes(random)
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) {})
	b.AddUint16(0x1301)
	b.AddUint8(0)
	if exts != nil {
		b.AddUint16LengthPrefixed(exts)
	}
	return b.BytesOrPanic()
}

func TestParseServerHello(t *testing.T) {
	hrr := helloRetryRandom()
	body := serverHelloBody(hrr[:], func(b *cryptobyte.Builder) {
		b.AddUint16(extSupportedVersions)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint16(VersionTLS13) })
		b.AddUint16(extKeyShare)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint16(0x11ec) })
	})
	sh, err := ParseServerHello(body)
	if err != nil {
		t.Fatal(err)
	}
	if !sh.HelloRetryRequest || sh.KeyShareGroup != 0x11ec || sh.NegotiatedVersion() != VersionTLS13 {
		t.Errorf("parsed %+v", sh)
	}
	bad := [][]byte{
		nil,
		body[:40],
		serverHelloBody(make([]byte, 32), func(b *cryptobyte.Builder) {
			b.AddUint16(extKeyShare)
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint16(0x1d) })
		}),
		serverHelloBody(make([]byte, 32), func(b *cryptobyte.Builder) {
			for range 2 {
				b.AddUint16(extRenegotiationInfo)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(0) })
			}
		}),
		append(serverHelloBody(make([]byte, 32), nil), 0, 1),
	}
	for i, b := range bad {
		if _, err := ParseServerHello(b); err == nil {
			t.Errorf("bad server hello %d parsed without error", i)
		}
	}
}

func TestParseDHEKeyExchange(t *testing.T) {
	var b cryptobyte.Builder
	p := append([]byte{0x00, 0x7f}, make([]byte, 255)...)
	for _, f := range [][]byte{p, {2}, {5}} {
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(f) })
	}
	bits, err := ParseDHEKeyExchange(b.BytesOrPanic())
	if err != nil || bits != 2047 {
		t.Errorf("bits %d, %v; want 2047", bits, err)
	}
}

func TestMarshalRejects(t *testing.T) {
	if _, err := (&ClientHello{}).Marshal(); err == nil {
		t.Error("client hello without suites marshalled")
	}
	if _, err := (&ClientHello{CipherSuites: []uint16{1}, SessionID: make([]byte, 33)}).Marshal(); err == nil {
		t.Error("client hello with a 33-byte session id marshalled")
	}
}
