package pqpsk

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cloudflare/circl/kem/xwing"
	xhkdf "golang.org/x/crypto/hkdf"
)

// fixedExporter is a deterministic RFC 8446 exporter stand-in for the
// known-answer vector: HMAC-SHA256(secret, label || context).
type fixedExporter struct{ secret []byte }

func (f fixedExporter) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	if length != 32 {
		return nil, fmt.Errorf("length %d", length)
	}
	m := hmac.New(sha256.New, f.secret)
	m.Write([]byte(label))
	m.Write(context)
	return m.Sum(nil), nil
}

type failingExporter struct{}

func (failingExporter) ExportKeyingMaterial(string, []byte, int) ([]byte, error) {
	return nil, errors.New("handshake not complete")
}

// counterReader yields a deterministic byte stream.
type counterReader struct{ n byte }

func (c *counterReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = c.n
		c.n++
	}
	return len(p), nil
}

// tlsPair runs a real TLS 1.3 handshake over a loopback TCP connection and
// returns both ends' connection states.
func tlsPair(t testing.TB) (client, server *tls.ConnectionState) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gw"}, DNSNames: []string{"gw"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		st  tls.ConnectionState
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		s := tls.Server(c, &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf}},
		})
		err = s.HandshakeContext(ctx)
		done <- result{st: s.ConnectionState(), err: err}
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	c := tls.Client(raw, &tls.Config{MinVersion: tls.VersionTLS13, ServerName: "gw", RootCAs: roots,
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768}})
	if err := c.HandshakeContext(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	cs := c.ConnectionState()
	return &cs, &r.st
}

func rotate(t testing.TB, exP, exA Exporter, epoch uint64) (p, a *Secret) {
	t.Helper()
	prop, err := Propose(nil)
	if err != nil {
		t.Fatal(err)
	}
	ct, a, err := Accept(nil, exA, epoch, prop.EncapsulationKey())
	if err != nil {
		t.Fatal(err)
	}
	p, err = prop.Finish(exP, epoch, ct)
	if err != nil {
		t.Fatal(err)
	}
	return p, a
}

func TestBothEndsAgreeOverRealTLS(t *testing.T) {
	client, server := tlsPair(t)
	seen := map[PSK]bool{}
	for epoch := uint64(1); epoch <= 3; epoch++ {
		p, a := rotate(t, client, server, epoch)
		if p.PSK() != a.PSK() {
			t.Fatalf("epoch %d: proposer %s, accepter %s", epoch, p.PSK(), a.PSK())
		}
		if p.PSK() == (PSK{}) {
			t.Fatalf("epoch %d: zero PSK", epoch)
		}
		if seen[p.PSK()] {
			t.Fatalf("epoch %d: PSK repeated", epoch)
		}
		seen[p.PSK()] = true
		if err := p.VerifyConfirmation(Accepter, a.Confirmation(Accepter)); err != nil {
			t.Fatal(err)
		}
		if err := a.VerifyConfirmation(Proposer, p.Confirmation(Proposer)); err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(p.Confirmation(Proposer), p.Confirmation(Accepter)) {
			t.Fatal("the two roles' confirmation tags are equal: a reflected tag would verify")
		}
	}
}

func TestDifferentExporterGivesDifferentPSK(t *testing.T) {
	c1, _ := tlsPair(t)
	_, s2 := tlsPair(t)
	// The accepter sits on another TLS session than the proposer: a
	// man-in-the-middle relaying the KEM messages between two sessions.
	p, a := rotate(t, c1, s2, 1)
	if p.PSK() == a.PSK() {
		t.Fatal("PSKs from different TLS sessions are equal")
	}
	if err := p.VerifyConfirmation(Accepter, a.Confirmation(Accepter)); !errors.Is(err, ErrConfirmation) {
		t.Fatalf("confirmation across sessions: got %v, want ErrConfirmation", err)
	}
}

func TestEpochIsBound(t *testing.T) {
	ex := fixedExporter{secret: []byte("session")}
	prop, err := Propose(nil)
	if err != nil {
		t.Fatal(err)
	}
	ct, a, err := Accept(nil, ex, 7, prop.EncapsulationKey())
	if err != nil {
		t.Fatal(err)
	}
	p, err := prop.Finish(ex, 8, ct)
	if err != nil {
		t.Fatal(err)
	}
	if p.PSK() == a.PSK() {
		t.Fatal("different epochs gave the same PSK")
	}
}

func TestTamperedCiphertext(t *testing.T) {
	ex := fixedExporter{secret: []byte("session")}
	for _, pos := range []int{0, 500, CiphertextSize - 32, CiphertextSize - 1} {
		t.Run(fmt.Sprint(pos), func(t *testing.T) {
			prop, err := Propose(nil)
			if err != nil {
				t.Fatal(err)
			}
			ct, a, err := Accept(nil, ex, 1, prop.EncapsulationKey())
			if err != nil {
				t.Fatal(err)
			}
			ct[pos] ^= 0x01
			p, err := prop.Finish(ex, 1, ct)
			if err != nil {
				t.Fatal(err)
			}
			if p.PSK() == a.PSK() {
				t.Fatalf("flipping ciphertext byte %d left the PSK unchanged", pos)
			}
			if err := p.VerifyConfirmation(Accepter, a.Confirmation(Accepter)); !errors.Is(err, ErrConfirmation) {
				t.Fatalf("got %v, want ErrConfirmation", err)
			}
		})
	}
}

func TestBadInputs(t *testing.T) {
	ex := fixedExporter{secret: []byte("s")}
	prop, err := Propose(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Accept(nil, ex, 1, prop.EncapsulationKey()[:100]); err == nil || !strings.Contains(err.Error(), "encapsulation key is 100 bytes") {
		t.Errorf("short key: %v", err)
	}
	if _, err := prop.Finish(ex, 1, make([]byte, 10)); err == nil || !strings.Contains(err.Error(), "ciphertext is 10 bytes") {
		t.Errorf("short ciphertext: %v", err)
	}
	if _, _, err := Accept(nil, failingExporter{}, 1, prop.EncapsulationKey()); err == nil || !strings.Contains(err.Error(), "handshake not complete") {
		t.Errorf("failing exporter: %v", err)
	}
	if _, _, err := Accept(io.LimitReader(rand.Reader, 10), ex, 1, prop.EncapsulationKey()); err == nil {
		t.Error("short randomness accepted")
	}
	ct, _, err := Accept(nil, ex, 1, prop.EncapsulationKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prop.Finish(ex, 1, ct); err != nil {
		t.Fatal(err)
	}
	if _, err := prop.Finish(ex, 1, ct); err == nil || !strings.Contains(err.Error(), "already finished") {
		t.Errorf("second Finish: %v", err)
	}
	discarded, err := Propose(nil)
	if err != nil {
		t.Fatal(err)
	}
	discarded.Discard()
	if _, err := discarded.Finish(ex, 1, ct); err == nil {
		t.Error("a discarded proposal finished")
	}
}

// TestKnownAnswer pins the key schedule: a change to it would make old and
// new gateways derive different PSKs. The expected value is recomputed with
// an independent HKDF implementation (x/crypto) and also pinned as hex.
func TestKnownAnswer(t *testing.T) {
	ex := fixedExporter{secret: bytes.Repeat([]byte{0x42}, 32)}
	const epoch = 3
	prop, err := Propose(&counterReader{n: 0})
	if err != nil {
		t.Fatal(err)
	}
	ct, a, err := Accept(&counterReader{n: 100}, ex, epoch, prop.EncapsulationKey())
	if err != nil {
		t.Fatal(err)
	}
	p, err := prop.Finish(ex, epoch, ct)
	if err != nil {
		t.Fatal(err)
	}
	if p.PSK() != a.PSK() {
		t.Fatal("ends disagree")
	}

	// Independent recomputation from the documented schedule.
	ekHash := sha256.Sum256(prop.EncapsulationKey())
	ctHash := sha256.Sum256(ct)
	var ectx [8]byte
	binary.BigEndian.PutUint64(ectx[:], epoch)
	exp, _ := ex.ExportKeyingMaterial(ExporterLabel, ectx[:], 32)
	ss := recoverSharedSecret(t, ct)
	info := append(append(append([]byte("intransit/pqpsk/v1"), ectx[:]...), ekHash[:]...), ctHash[:]...)
	r := xhkdf.New(sha256.New, append(append([]byte{}, ss...), exp...), []byte("intransit/pqpsk/v1"), append(info, "wireguard-psk"...))
	var want PSK
	if _, err := io.ReadFull(r, want[:]); err != nil {
		t.Fatal(err)
	}
	if p.PSK() != want {
		t.Fatalf("PSK %x, independent computation %x", p.PSK(), want)
	}
	const pinned = "fe054fae5160dfbafd36fc82a2a2f6bde8fbe8467528b86a2414fd5169750076"
	if got := p.PSK().Hex(); got != pinned {
		t.Fatalf("PSK %s, pinned %s", got, pinned)
	}
}

// recoverSharedSecret decapsulates ct with the deterministic proposer key of
// TestKnownAnswer.
func recoverSharedSecret(t *testing.T, ct []byte) []byte {
	t.Helper()
	prop, err := Propose(&counterReader{n: 0})
	if err != nil {
		t.Fatal(err)
	}
	return xwing.Decapsulate(ct, prop.seed)
}

func TestPSKNeverPrintsItself(t *testing.T) {
	var k PSK
	for i := range k {
		k[i] = byte(i + 1)
	}
	for _, s := range []string{k.String(), fmt.Sprint(k), fmt.Sprintf("%v", k), k.LogValue().String()} {
		if strings.Contains(s, k.Hex()) || strings.Contains(s, k.Base64()) || strings.Contains(s, hex.EncodeToString(k[:4])) {
			t.Errorf("formatted PSK %q reveals the key", s)
		}
	}
	if len(k.ID()) != 16 {
		t.Errorf("ID %q", k.ID())
	}
}

// BenchmarkRotation is one rotation's cryptography on both ends: X-Wing key
// generation, encapsulation, decapsulation and both key schedules.
func BenchmarkRotation(b *testing.B) {
	client, server := tlsPair(b)
	for i := 0; b.Loop(); i++ {
		p, a := rotate(b, client, server, uint64(i))
		if p.PSK() != a.PSK() {
			b.Fatal("disagree")
		}
	}
}

// BenchmarkMLKEM768Reference is the reference for BenchmarkRotation: the
// standard library's ML-KEM-768 alone (key generation, encapsulation,
// decapsulation), without X25519 and without the key schedule.
func BenchmarkMLKEM768Reference(b *testing.B) {
	for b.Loop() {
		dk, err := mlkem.GenerateKey768()
		if err != nil {
			b.Fatal(err)
		}
		ss, ct := dk.EncapsulationKey().Encapsulate()
		got, err := dk.Decapsulate(ct)
		if err != nil || !bytes.Equal(got, ss) {
			b.Fatal("ML-KEM round trip failed")
		}
	}
}
