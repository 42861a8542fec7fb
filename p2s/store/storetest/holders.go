package storetest

import (
	"context"
	"testing"
	"time"

	"intransit/p2s"
)

// HoldersBackend makes the p2s.Holders of several gateways on one fresh
// shared store.
type HoldersBackend struct {
	// New makes the storage for one test and returns how to open the
	// Holders of gateway id on it (the suite closes them), how to read a
	// client's holder ("" when none), and how to make the store forget
	// the claims of h as if h had been cut off for longer than its lease.
	New func(t *testing.T) (open func(id string) p2s.Holders, holder func(client string) string, expire func(h p2s.Holders))
}

// eventually bounds the waits for what the store does by itself (a
// watch, a lease): a failure, never a timing, is what the suite checks.
const eventually = 30 * time.Second

// RunHolders runs the contract of p2s.Holders against the backend.
func RunHolders(t *testing.T, b HoldersBackend) {
	t.Run("Takeover", func(t *testing.T) { testTakeover(t, b) })
	t.Run("ReleaseOnlyOwn", func(t *testing.T) { testReleaseOnlyOwn(t, b) })
	t.Run("ReassertAfterExpiry", func(t *testing.T) { testReassert(t, b) })
	t.Run("LostWhileCutOff", func(t *testing.T) { testLostWhileCutOff(t, b) })
	t.Run("CloseReleases", func(t *testing.T) { testCloseReleases(t, b) })
}

func openHolders(t *testing.T, b HoldersBackend) (func(id string) p2s.Holders, func(string) string, func(p2s.Holders)) {
	open, holder, expire := b.New(t)
	return func(id string) p2s.Holders {
		h := open(id)
		t.Cleanup(func() { _ = h.Close() })
		return h
	}, holder, expire
}

func claim(t *testing.T, h p2s.Holders, client string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventually)
	defer cancel()
	if err := h.Claim(ctx, client); err != nil {
		t.Fatal(err)
	}
}

// lost waits for client on h.Lost.
func lost(t *testing.T, h p2s.Holders, client string) {
	t.Helper()
	select {
	case c := <-h.Lost():
		if c != client {
			t.Fatalf("lost %q, want %q", c, client)
		}
	case <-time.After(eventually):
		t.Fatalf("%q never reported lost", client)
	}
}

// notLost checks that nothing is pending on h.Lost.
func notLost(t *testing.T, h p2s.Holders) {
	t.Helper()
	select {
	case c := <-h.Lost():
		t.Fatalf("%q reported lost, but this gateway made the newest claim", c)
	default:
	}
}

// holderBecomes waits until client's holder is want.
func holderBecomes(t *testing.T, holder func(string) string, client, want string) {
	t.Helper()
	deadline := time.Now().Add(eventually)
	for holder(client) != want {
		if time.Now().After(deadline) {
			t.Fatalf("holder of %q is %q, want %q", client, holder(client), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func testTakeover(t *testing.T, b HoldersBackend) {
	open, holder, _ := openHolders(t, b)
	a, bb := open("gw-a"), open("gw-b")
	claim(t, a, "alice")
	claim(t, a, "bob")
	if got := holder("alice"); got != "gw-a" {
		t.Fatalf("holder after the claim: %q", got)
	}
	claim(t, bb, "alice")
	lost(t, a, "alice")
	if got := holder("alice"); got != "gw-b" {
		t.Fatalf("holder after the takeover: %q", got)
	}
	// Back again: the newest claim wins each time, and bob stays a's.
	claim(t, a, "alice")
	lost(t, bb, "alice")
	notLost(t, a)
	if holder("alice") != "gw-a" || holder("bob") != "gw-a" {
		t.Fatalf("holders: alice %q, bob %q", holder("alice"), holder("bob"))
	}
}

func testReleaseOnlyOwn(t *testing.T, b HoldersBackend) {
	open, holder, _ := openHolders(t, b)
	a, bb := open("gw-a"), open("gw-b")
	claim(t, a, "alice")
	claim(t, bb, "alice")
	lost(t, a, "alice")
	ctx := context.Background()
	if err := a.Release(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if got := holder("alice"); got != "gw-b" {
		t.Fatalf("a's release removed b's claim: holder %q", got)
	}
	if err := bb.Release(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if got := holder("alice"); got != "" {
		t.Fatalf("holder after b's release: %q", got)
	}
}

func testReassert(t *testing.T, b HoldersBackend) {
	open, holder, expire := openHolders(t, b)
	a := open("gw-a")
	claim(t, a, "alice")
	expire(a)
	// Nobody took alice meanwhile: the claim is a's again.
	holderBecomes(t, holder, "alice", "gw-a")
	notLost(t, a)
}

func testLostWhileCutOff(t *testing.T, b HoldersBackend) {
	open, holder, expire := openHolders(t, b)
	a, bb := open("gw-a"), open("gw-b")
	claim(t, a, "alice")
	expire(a)
	claim(t, bb, "alice")
	lost(t, a, "alice")
	holderBecomes(t, holder, "alice", "gw-b")
	notLost(t, bb)
}

func testCloseReleases(t *testing.T, b HoldersBackend) {
	open, holder, _ := openHolders(t, b)
	a := open("gw-a")
	claim(t, a, "alice")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if got := holder("alice"); got != "" {
		t.Fatalf("holder after close: %q", got)
	}
}
