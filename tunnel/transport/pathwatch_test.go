package transport

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakePath is a peer whose answers come only over the transports in
// answers; it records what the Watch applied.
type fakePath struct {
	answers map[string]bool

	mu       sync.Mutex
	endpoint string
	reply    Observation
	applied  []string
	renewed  int
}

func (f *fakePath) Observe() (Observation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.reply
	o.Endpoint, o.LastHandshake = f.endpoint, time.Now()
	return o, nil
}

func (f *fakePath) Probe() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if f.answers[SchemeOf(f.endpoint)] {
		f.reply.ReplySent, f.reply.ReplyReceived = now, now
	}
	return nil
}

func (f *fakePath) Apply(ep string, renew bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.endpoint = ep
	f.applied = append(f.applied, ep)
	if renew {
		f.renewed++
	}
	return nil
}

// TestWatch runs a Watch over a peer that answers only over quic: it
// applies quic, calls the path up there, and counts one change; an error
// of the path does not end it.
func TestWatch(t *testing.T) {
	eps := []string{"udp://gw:51820", "quic://gw:443"}
	m, err := NewMonitor(MonitorConfig{Endpoints: eps, Attempt: 300 * time.Millisecond}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := &fakePath{answers: map[string]bool{QUIC: true}, endpoint: eps[0]}
	w := NewWatch(m, f, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	for !(w.Health().Up && w.Current() == eps[1]) {
		select {
		case <-done:
			t.Fatal("Run returned early")
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	<-done
	if h := w.Health(); h.Transport != QUIC || w.Changes() != 1 {
		t.Errorf("health %+v after %d changes, want up on quic after 1", h, w.Changes())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.applied[len(f.applied)-1] != eps[1] || f.renewed != 0 {
		t.Errorf("applied %v (%d renewals; the session existed, so none)", f.applied, f.renewed)
	}
}
