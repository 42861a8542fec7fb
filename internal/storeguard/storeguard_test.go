package storeguard

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"intransit/p2s"
	p2sbolt "intransit/p2s/store/bolt"
)

func boltStore(t *testing.T) p2s.Store {
	t.Helper()
	st, err := p2sbolt.Open(filepath.Join(t.TempDir(), p2sbolt.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestGuardStates walks the guard through reachable, unreachable and
// back: calls pass through a reachable store, fail at once naming the
// store and since when while it is not, and pass again after.
func TestGuardStates(t *testing.T) {
	ctx := t.Context()
	g := &Guard{Name: "etcd"}
	st := NewP2S(boltStore(t), g)
	tok := p2s.Token{ID: "t1", Name: "alice", Group: "staff", Created: time.Now(), Expires: time.Now().Add(time.Hour)}
	if err := st.PutToken(ctx, tok); err != nil {
		t.Fatalf("reachable: %v", err)
	}
	if h := g.Health(); !h.Reachable {
		t.Fatalf("health before any failure: %+v", h)
	}
	t0 := time.Now()
	g.observe(errors.New("context deadline exceeded"), t0)
	if _, err := st.Token(ctx, "t1"); err != nil {
		t.Fatalf("one failed probe (an etcd leader election) must not refuse: %v", err)
	}
	g.observe(errors.New("context deadline exceeded"), t0.Add(DefaultDownAfter))
	_, err := st.Token(ctx, "t1")
	if !errors.Is(err, p2s.ErrUnreachable) || !strings.Contains(err.Error(), "etcd unreachable since") || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("unreachable: Token = %v; want ErrUnreachable naming the store, the time and the cause", err)
	}
	if err := st.CreateLease(ctx, p2s.Lease{Client: "alice"}); !errors.Is(err, p2s.ErrUnreachable) {
		t.Fatalf("unreachable: CreateLease = %v", err)
	}
	if h := g.Health(); h.Reachable || h.Error == "" || h.Since.IsZero() {
		t.Fatalf("health while unreachable: %+v", h)
	}
	g.observe(nil, t0.Add(2*DefaultDownAfter))
	if _, err := st.Token(ctx, "t1"); err != nil {
		t.Fatalf("reachable again: %v", err)
	}
	if _, err := st.Token(ctx, "none"); !errors.Is(err, p2s.ErrNotFound) {
		t.Fatalf("the store's own errors pass through: %v", err)
	}
}

// TestGuardCallTimeout reports a call the store does not answer within
// CallTimeout as the store unreachable, and leaves the caller's own
// cancellation alone.
func TestGuardCallTimeout(t *testing.T) {
	g := &Guard{Name: "etcd", CallTimeout: time.Millisecond}
	hang := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	if err := g.Do(t.Context(), hang); !errors.Is(err, p2s.ErrUnreachable) {
		t.Fatalf("a call not answered in time: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	g.CallTimeout = time.Hour
	if err := g.Do(ctx, hang); !errors.Is(err, context.Canceled) || errors.Is(err, p2s.ErrUnreachable) {
		t.Fatalf("a call its caller cancelled: %v", err)
	}
}

// TestGuardRun follows a probe that starts failing and recovers.
func TestGuardRun(t *testing.T) {
	var fail atomic.Bool
	g := &Guard{Name: "etcd", Every: time.Millisecond, DownAfter: time.Millisecond, Probe: func(context.Context) error {
		if fail.Load() {
			return errors.New("unavailable")
		}
		return nil
	}}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); g.Run(ctx) }()
	fail.Store(true)
	waitHealth(t, g, false)
	fail.Store(false)
	waitHealth(t, g, true)
	cancel()
	<-done
}

// waitHealth waits until the guard's reachability is want; the deadline
// only guards against a hang.
func waitHealth(t *testing.T, g *Guard, want bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for g.Health().Reachable != want {
		if time.Now().After(deadline) {
			t.Fatalf("reachable never became %v", want)
		}
		time.Sleep(time.Millisecond)
	}
}
