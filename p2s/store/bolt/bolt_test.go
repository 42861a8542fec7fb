package bolt

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"intransit/p2s"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLeasesPersistAndConflict(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	s := open(t, path)
	a := p2s.Lease{Client: "a", Addresses: []netip.Addr{netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("fd00::1")}}
	if err := s.PutLease(ctx, a); err != nil {
		t.Fatal(err)
	}
	b := p2s.Lease{Client: "b", Addresses: []netip.Addr{netip.MustParseAddr("10.9.0.1")}}
	if err := s.PutLease(ctx, b); !errors.Is(err, p2s.ErrAddressTaken) {
		t.Fatalf("lease of a taken address: %v, want ErrAddressTaken", err)
	}
	// Moving a's lease frees its old address.
	a.Addresses = []netip.Addr{netip.MustParseAddr("10.9.0.2")}
	if err := s.PutLease(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.PutLease(ctx, b); err != nil {
		t.Fatalf("old address not freed: %v", err)
	}
	s.Close()
	s = open(t, path)
	defer s.Close()
	ls, err := s.Leases(ctx)
	if err != nil || len(ls) != 2 {
		t.Fatalf("after reopen: %v %v", ls, err)
	}
	if err := s.DeleteLeases(ctx, "a", "nobody"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutLease(ctx, p2s.Lease{Client: "c", Addresses: []netip.Addr{netip.MustParseAddr("10.9.0.2")}}); err != nil {
		t.Fatalf("address of a deleted lease not freed: %v", err)
	}
}

func TestTouchAndDeleteLeasesInOneCommit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	s := open(t, path)
	old := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, c := range []string{"a", "b", "c"} {
		l := p2s.Lease{Client: c, Addresses: []netip.Addr{netip.AddrFrom4([4]byte{10, 9, 0, byte(i + 1)})}, Updated: old}
		if err := s.PutLease(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	seen := time.Date(2026, 6, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))
	if err := s.TouchLeases(ctx, seen, "a", "nobody", "c"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteLeases(ctx, "b", "c"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path)
	defer s.Close()
	ls, err := s.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].Client != "a" || !ls[0].Updated.Equal(seen) || ls[0].Updated.Location() != time.UTC {
		t.Fatalf("after touch a, c and delete b, c: %+v, want a alone, updated %v in UTC", ls, seen)
	}
	if err := s.PutLease(ctx, p2s.Lease{Client: "d", Addresses: []netip.Addr{netip.MustParseAddr("10.9.0.2")}}); err != nil {
		t.Fatalf("address of deleted lease b not freed: %v", err)
	}
}

func TestRedeemTokenOnce(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), FileName))
	defer s.Close()
	tok := p2s.Token{ID: "t1", SecretHash: []byte{1}, Name: "n", Group: "g", Expires: time.Now().Add(time.Hour)}
	if err := s.PutToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := s.PutToken(ctx, tok); err == nil {
		t.Fatal("a token ID stored twice")
	}
	refused := errors.New("refused")
	if _, err := s.RedeemToken(ctx, "t1", time.Now(), func(p2s.Token) error { return refused }, "01"); !errors.Is(err, refused) {
		t.Fatalf("check's refusal not returned: %v", err)
	}
	if _, err := s.Client(ctx, "n"); !errors.Is(err, p2s.ErrNotFound) {
		t.Fatalf("a refused redemption recorded the client: %v", err)
	}
	unused := func(t p2s.Token) error {
		if !t.Used.IsZero() {
			return errors.New("used")
		}
		return nil
	}
	got, err := s.RedeemToken(ctx, "t1", time.Now(), unused, "0a")
	if err != nil || got.Used.IsZero() || got.Name != "n" {
		t.Fatalf("first redeem: %+v %v", got, err)
	}
	c, err := s.Client(ctx, "n")
	if err != nil || c.Group != "g" || len(c.Serials) != 1 || c.Serials[0] != "0a" {
		t.Fatalf("client recorded with the redemption: %+v %v", c, err)
	}
	if stored, err := s.Token(ctx, "t1"); err != nil || stored.Used.IsZero() {
		t.Fatalf("stored token: %+v %v", stored, err)
	}
	if _, err := s.RedeemToken(ctx, "t1", time.Now(), unused, "0b"); err == nil {
		t.Fatal("a token redeemed twice")
	}
	if _, err := s.RedeemToken(ctx, "nope", time.Now(), unused, "0c"); !errors.Is(err, p2s.ErrNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
	if _, err := s.Token(ctx, "nope"); !errors.Is(err, p2s.ErrNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
}

func TestClients(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), FileName))
	defer s.Close()
	if _, err := s.Client(ctx, "x"); !errors.Is(err, p2s.ErrNotFound) {
		t.Fatalf("missing client: %v", err)
	}
	for _, n := range []string{"b", "a"} {
		if err := s.PutClient(ctx, p2s.Client{Name: n, Group: "g", Serials: []string{"01"}}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := s.Client(ctx, "b")
	if err != nil || c.Name != "b" || c.Group != "g" || c.Serials[0] != "01" {
		t.Fatalf("client b: %+v %v", c, err)
	}
	if err := s.DeleteClient(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client(ctx, "b"); !errors.Is(err, p2s.ErrNotFound) {
		t.Fatalf("deleted client: %v", err)
	}
	if err := s.DeleteClient(ctx, "b"); !errors.Is(err, p2s.ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
}

func TestForeignFileRefused(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(empty); err == nil {
		t.Error("an empty file was opened as a store")
	}
	other := filepath.Join(dir, "other.db")
	db, err := bbolt.Open(other, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("x")); return err }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(other); err == nil {
		t.Error("another program's bbolt file was opened as a store")
	}
}
