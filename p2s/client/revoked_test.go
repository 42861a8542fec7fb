package client

import (
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"intransit/tunnel/control"
)

func TestRevokedBy(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cert := func(serial int64, raw string) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(serial), Raw: []byte(raw), NotAfter: now.Add(time.Hour)}
	}
	leaf, renewed := cert(1, "one"), cert(2, "two")
	expired := &x509.Certificate{SerialNumber: big.NewInt(3), Raw: []byte("three"), NotAfter: now.Add(-time.Second)}
	byGateway := &control.SessionError{Reason: control.ReasonRevoked, Detail: "certificate revoked", Remote: true, Closed: true}
	for _, tc := range []struct {
		name          string
		err           error
		leaf, current *x509.Certificate
		want          bool
	}{
		{"the gateway revoked the certificate in use", byGateway, leaf, leaf, true},
		{"wrapped", fmt.Errorf("session: %w", byGateway), leaf, leaf, true},
		{"renewed since: the new certificate is fine", byGateway, leaf, renewed, false},
		{"expired: the gateway says revoked too", byGateway, expired, expired, false},
		{"we closed it ourselves", &control.SessionError{Reason: control.ReasonRevoked, Closed: true}, leaf, leaf, false},
		{"another reason", &control.SessionError{Reason: control.ReasonShutdown, Remote: true, Closed: true}, leaf, leaf, false},
		{"a TLS refusal", errors.New("remote error: tls: bad certificate"), leaf, leaf, false},
		{"no error", nil, leaf, leaf, false},
	} {
		if got := revokedBy(tc.err, tc.leaf, tc.current, now); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestRevokedRecord: a recorded revocation counts for the certificate it
// names only; a new certificate (enrolled again) voids it.
func TestRevokedRecord(t *testing.T) {
	dir := t.TempDir()
	leaf := &x509.Certificate{SerialNumber: big.NewInt(0xabc)}
	if r, err := readRevoked(dir, leaf); err != nil || r != nil {
		t.Fatalf("nothing recorded: %v %v", r, err)
	}
	rec := Revocation{Serial: "abc", At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Detail: "gateway says: certificate revoked"}
	if err := writeRevoked(dir, rec); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, RevokedFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("record %v %v", fi, err)
	}
	r, err := readRevoked(dir, leaf)
	if err != nil || r == nil || *r != rec {
		t.Fatalf("read back %+v %v, want %+v", r, err, rec)
	}
	if r, err := readRevoked(dir, &x509.Certificate{SerialNumber: big.NewInt(0xabd)}); err != nil || r != nil {
		t.Errorf("another certificate: %v %v, want no revocation", r, err)
	}
	if err := os.WriteFile(filepath.Join(dir, RevokedFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readRevoked(dir, leaf); err == nil {
		t.Errorf("a broken record is not an error")
	}
	var re *RevokedError
	if err := error(&RevokedError{Revocation: rec}); !errors.As(err, &re) || re.Error() == "" {
		t.Errorf("RevokedError: %v", err)
	}
}
