// Package storetest checks that a p2s.Store backend keeps the contract
// written on p2s.Clients, Tokens, Leases and Statics. Every backend's tests
// call Run.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"intransit/p2s"
)

// Backend makes fresh, empty storage for one test and returns a function
// that opens it.
type Backend struct {
	// New makes the storage. The suite closes every store it opens.
	New func(t *testing.T) (open func() p2s.Store)
	// Shared says that open may be called again while a store from it is
	// open, as several gateways share one etcd: the races are then run
	// through two stores. Otherwise the suite closes a store before it
	// opens the storage again, and races go through one store.
	Shared bool
}

// Run runs the contract tests against the backend.
func Run(t *testing.T, b Backend) {
	t.Run("Clients", func(t *testing.T) { testClients(t, b) })
	t.Run("TokenRedeemedOnce", func(t *testing.T) { testTokenRedeemedOnce(t, b) })
	t.Run("TokenRace", func(t *testing.T) { testTokenRace(t, b) })
	t.Run("Leases", func(t *testing.T) { testLeases(t, b) })
	t.Run("LeaseRace", func(t *testing.T) { testLeaseRace(t, b) })
	t.Run("TouchAndReclaim", func(t *testing.T) { testTouchAndReclaim(t, b) })
	t.Run("Statics", func(t *testing.T) { testStatics(t, b) })
	t.Run("Durable", func(t *testing.T) { testDurable(t, b) })
}

// two opens the storage once, or twice when the backend is shared.
func two(t *testing.T, b Backend) (p2s.Store, p2s.Store) {
	open := b.New(t)
	s1 := open()
	t.Cleanup(func() { _ = s1.Close() })
	if !b.Shared {
		return s1, s1
	}
	s2 := open()
	t.Cleanup(func() { _ = s2.Close() })
	return s1, s2
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func testClients(t *testing.T, b Backend) {
	ctx := context.Background()
	s, other := two(t, b)
	if _, err := s.Client(ctx, "x"); !errors.Is(err, p2s.ErrNotFound) {
		t.Fatalf("missing client: %v, want ErrNotFound", err)
	}
	for _, n := range []string{"b", "a"} {
		if err := s.PutClient(ctx, p2s.Client{Name: n, Group: "g", Serials: []string{"01"}}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := other.Client(ctx, "b")
	if err != nil || c.Name != "b" || c.Group != "g" || len(c.Serials) != 1 || c.Serials[0] != "01" {
		t.Fatalf("client b: %+v %v", c, err)
	}
	c.Serials[0] = "changed"
	if again, _ := s.Client(ctx, "b"); again.Serials[0] != "01" {
		t.Fatal("a returned record aliases the stored one")
	}
	all, err := other.ListClients(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "a" || all[1].Name != "b" {
		t.Fatalf("ListClients = %+v %v; want a and b, by name", all, err)
	}
	if err := s.DeleteClient(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Client(ctx, "b"); !errors.Is(err, p2s.ErrNotFound) {
		t.Fatalf("deleted client: %v, want ErrNotFound", err)
	}
	if err := s.DeleteClient(ctx, "b"); !errors.Is(err, p2s.ErrNotFound) {
		t.Fatalf("deleting twice: %v, want ErrNotFound", err)
	}
}

// unused refuses a used token.
func unused(t p2s.Token) error {
	if !t.Used.IsZero() {
		return errors.New("token used already")
	}
	return nil
}

func testTokenRedeemedOnce(t *testing.T, b Backend) {
	ctx := context.Background()
	s, other := two(t, b)
	tok := p2s.Token{ID: "t1", SecretHash: []byte{1}, Name: "n", Group: "g", Expires: time.Now().Add(time.Hour).UTC()}
	if err := s.PutToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := other.PutToken(ctx, tok); err == nil {
		t.Fatal("a token ID stored twice")
	}
	refused := errors.New("refused")
	if _, err := s.RedeemToken(ctx, "t1", time.Now(), func(p2s.Token) error { return refused }, "01"); !errors.Is(err, refused) {
		t.Fatalf("check's refusal not returned: %v", err)
	}
	if _, err := s.Client(ctx, "n"); !errors.Is(err, p2s.ErrNotFound) {
		t.Fatalf("a refused redemption recorded the client: %v", err)
	}
	got, err := other.RedeemToken(ctx, "t1", time.Now(), unused, "0a")
	if err != nil || got.Used.IsZero() || got.Name != "n" {
		t.Fatalf("first redeem: %+v %v", got, err)
	}
	c, err := s.Client(ctx, "n")
	if err != nil || c.Group != "g" || len(c.Serials) != 1 || c.Serials[0] != "0a" {
		t.Fatalf("client recorded with the redemption: %+v %v", c, err)
	}
	if stored, err := s.Token(ctx, "t1"); err != nil || stored.Used.IsZero() || string(stored.SecretHash) != "\x01" {
		t.Fatalf("stored token: %+v %v", stored, err)
	}
	if _, err := s.RedeemToken(ctx, "t1", time.Now(), unused, "0b"); err == nil {
		t.Fatal("a token redeemed twice")
	}
	if _, err := s.RedeemToken(ctx, "nope", time.Now(), unused, "0c"); !errors.Is(err, p2s.ErrNotFound) {
		t.Fatalf("unknown token: %v, want ErrNotFound", err)
	}
	if _, err := s.Token(ctx, "nope"); !errors.Is(err, p2s.ErrNotFound) {
		t.Fatalf("unknown token: %v, want ErrNotFound", err)
	}
}

// testTokenRace redeems one token from many goroutines through two stores
// (two gateways on a shared backend): exactly one wins.
func testTokenRace(t *testing.T, b Backend) {
	ctx := context.Background()
	s1, s2 := two(t, b)
	if err := s1.PutToken(ctx, p2s.Token{ID: "race", Name: "laptop", Group: "g", Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	const callers = 16
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := range callers {
		s := s1
		if i%2 == 1 {
			s = s2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.RedeemToken(ctx, "race", time.Now(), unused, fmt.Sprintf("%02x", i))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		if err == nil {
			won++
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d concurrent redemptions of one token succeeded, want exactly 1", won, callers)
	}
	c, err := s2.Client(ctx, "laptop")
	if err != nil || len(c.Serials) != 1 {
		t.Fatalf("client after the race: %+v %v; want one serial", c, err)
	}
}

func testLeases(t *testing.T, b Backend) {
	ctx := context.Background()
	s, other := two(t, b)
	a := p2s.Lease{Client: "a", Addresses: []netip.Addr{addr("10.9.0.1"), addr("fd00::1")}, Updated: time.Now().UTC().Truncate(time.Second)}
	if err := s.CreateLease(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := other.CreateLease(ctx, p2s.Lease{Client: "a", Addresses: []netip.Addr{addr("10.9.0.7")}}); !errors.Is(err, p2s.ErrLeaseExists) {
		t.Fatalf("second lease for a: %v, want ErrLeaseExists", err)
	}
	bl := p2s.Lease{Client: "b", Addresses: []netip.Addr{addr("10.9.0.1")}}
	if err := other.CreateLease(ctx, bl); !errors.Is(err, p2s.ErrAddressTaken) {
		t.Fatalf("lease of a taken address: %v, want ErrAddressTaken", err)
	}
	if err := other.PutLease(ctx, bl); !errors.Is(err, p2s.ErrAddressTaken) {
		t.Fatalf("put of a taken address: %v, want ErrAddressTaken", err)
	}
	got, err := other.Lease(ctx, "a")
	if err != nil || !slices.Equal(got.Addresses, a.Addresses) || !got.Updated.Equal(a.Updated) {
		t.Fatalf("lease a: %+v %v, want %+v", got, err, a)
	}
	if _, err := s.Lease(ctx, "b"); !errors.Is(err, p2s.ErrNotFound) {
		t.Fatalf("missing lease: %v, want ErrNotFound", err)
	}
	// Moving a's lease frees its old addresses.
	a.Addresses = []netip.Addr{addr("10.9.0.2")}
	if err := s.PutLease(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := other.CreateLease(ctx, bl); err != nil {
		t.Fatalf("old address not freed: %v", err)
	}
	ls, err := s.Leases(ctx)
	if err != nil || len(ls) != 2 {
		t.Fatalf("leases: %+v %v, want a and b", ls, err)
	}
	if err := other.DeleteLeases(ctx, "a", "nobody"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lease(ctx, "a"); !errors.Is(err, p2s.ErrNotFound) {
		t.Fatalf("deleted lease: %v, want ErrNotFound", err)
	}
	if err := s.CreateLease(ctx, p2s.Lease{Client: "c", Addresses: []netip.Addr{addr("10.9.0.2")}}); err != nil {
		t.Fatalf("address of a deleted lease not freed: %v", err)
	}
}

// testLeaseRace has many clients ask for one address at once through two
// stores, and many gateways create one client's lease at once: exactly one
// wins each race.
func testLeaseRace(t *testing.T, b Backend) {
	ctx := context.Background()
	s1, s2 := two(t, b)
	const callers = 16
	race := func(lease func(i int) p2s.Lease, lost error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, callers)
		for i := range callers {
			s := s1
			if i%2 == 1 {
				s = s2
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- s.CreateLease(ctx, lease(i))
			}()
		}
		wg.Wait()
		close(errs)
		won := 0
		for err := range errs {
			switch {
			case err == nil:
				won++
			case errors.Is(err, lost):
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d of %d concurrent leases won, want exactly 1", won, callers)
		}
	}
	race(func(i int) p2s.Lease {
		return p2s.Lease{Client: fmt.Sprintf("c%d", i), Addresses: []netip.Addr{addr("10.9.0.9")}}
	}, p2s.ErrAddressTaken)
	race(func(i int) p2s.Lease {
		return p2s.Lease{Client: "same", Addresses: []netip.Addr{netip.AddrFrom4([4]byte{10, 9, 1, byte(i + 1)})}}
	}, p2s.ErrLeaseExists)
	ls, err := s1.Leases(ctx)
	if err != nil || len(ls) != 2 {
		t.Fatalf("leases after the races: %+v %v, want 2", ls, err)
	}
}

func testTouchAndReclaim(t *testing.T, b Backend) {
	ctx := context.Background()
	s, other := two(t, b)
	old := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, c := range []string{"idle", "touched", "kept", p2s.StaticLeasePrefix + "printer", "fresh"} {
		l := p2s.Lease{Client: c, Addresses: []netip.Addr{netip.AddrFrom4([4]byte{10, 9, 0, byte(i + 1)})}, Updated: old}
		if c == "fresh" {
			l.Updated = time.Now().UTC()
		}
		if err := s.CreateLease(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	seen := time.Now().Add(-time.Minute).In(time.FixedZone("x", 3600))
	if err := other.TouchLeases(ctx, seen, "touched", "nobody"); err != nil {
		t.Fatal(err)
	}
	got, err := s.Lease(ctx, "touched")
	if err != nil || !got.Updated.Equal(seen) || got.Updated.Location() != time.UTC {
		t.Fatalf("touched lease: %+v %v, want updated %v in UTC", got, err, seen)
	}
	keep := func(c string) bool { return c == "kept" }
	freed, err := other.ReclaimLeases(ctx, time.Now().Add(-time.Hour), keep)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(freed, []string{"idle"}) {
		t.Fatalf("reclaimed %v, want [idle]", freed)
	}
	ls, err := s.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, l := range ls {
		left = append(left, l.Client)
	}
	slices.Sort(left)
	if want := []string{"fresh", "kept", p2s.StaticLeasePrefix + "printer", "touched"}; !slices.Equal(left, want) {
		t.Fatalf("leases left %v, want %v", left, want)
	}
	if err := s.CreateLease(ctx, p2s.Lease{Client: "another", Addresses: []netip.Addr{addr("10.9.0.1")}}); err != nil {
		t.Fatalf("the reclaimed address is not free: %v", err)
	}
	// Everything idle, nothing kept: the static device's lease stays.
	freed, err = s.ReclaimLeases(ctx, time.Now().Add(time.Hour), func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"another", "fresh", "kept", "touched"}; !slices.Equal(freed, want) {
		t.Fatalf("reclaimed %v, want %v", freed, want)
	}
}

func testStatics(t *testing.T, b Backend) {
	ctx := context.Background()
	s, other := two(t, b)
	st := p2s.Static{Name: "printer", Group: "g", PublicKey: [32]byte{1}, PresharedKey: [32]byte{2},
		Addresses: []netip.Addr{addr("10.9.0.5")}, Created: time.Now().UTC().Truncate(time.Second)}
	if err := s.PutStatic(ctx, st); err != nil {
		t.Fatal(err)
	}
	if err := other.PutStatic(ctx, st); err == nil {
		t.Fatal("a static device stored twice")
	}
	sts, err := other.Statics(ctx)
	if err != nil || len(sts) != 1 || sts[0].Name != "printer" || sts[0].PublicKey != st.PublicKey || sts[0].PresharedKey != st.PresharedKey || !slices.Equal(sts[0].Addresses, st.Addresses) {
		t.Fatalf("statics: %+v %v", sts, err)
	}
	if err := other.DeleteStatic(ctx, "printer"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteStatic(ctx, "printer"); !errors.Is(err, p2s.ErrNotFound) {
		t.Fatalf("deleting twice: %v, want ErrNotFound", err)
	}
	if sts, err := s.Statics(ctx); err != nil || len(sts) != 0 {
		t.Fatalf("statics after delete: %+v %v", sts, err)
	}
}

func testDurable(t *testing.T, b Backend) {
	ctx := context.Background()
	open := b.New(t)
	s := open()
	if err := s.PutClient(ctx, p2s.Client{Name: "kept", Group: "g"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutToken(ctx, p2s.Token{ID: "tk", Name: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateLease(ctx, p2s.Lease{Client: "kept", Addresses: []netip.Addr{addr("10.9.0.3")}, Updated: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutStatic(ctx, p2s.Static{Name: "cam"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open()
	defer s.Close()
	if _, err := s.Client(ctx, "kept"); err != nil {
		t.Errorf("client after reopen: %v", err)
	}
	if _, err := s.Token(ctx, "tk"); err != nil {
		t.Errorf("token after reopen: %v", err)
	}
	if l, err := s.Lease(ctx, "kept"); err != nil || l.Addresses[0] != addr("10.9.0.3") {
		t.Errorf("lease after reopen: %+v %v", l, err)
	}
	if err := s.CreateLease(ctx, p2s.Lease{Client: "other", Addresses: []netip.Addr{addr("10.9.0.3")}}); !errors.Is(err, p2s.ErrAddressTaken) {
		t.Errorf("address index after reopen: %v, want ErrAddressTaken", err)
	}
	if sts, err := s.Statics(ctx); err != nil || len(sts) != 1 {
		t.Errorf("statics after reopen: %+v %v", sts, err)
	}
}
