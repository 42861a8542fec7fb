package transport

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// How often a Watch polls its peer, and how often it probes while the
// newest answer is older than DefaultProbeEvery and a bit: a congested or
// lossy path then gets many chances to answer before DeadAfter.
const (
	watchPoll  = 100 * time.Millisecond
	probeRetry = 250 * time.Millisecond
	answerLate = DefaultProbeEvery + 500*time.Millisecond
)

// PeerPath is the WireGuard peer a Watch drives (in this project, one
// peer of a tunnel.Device). A Watch calls its methods from one goroutine,
// one at a time; an implementation locks whatever it shares with others.
// An error is logged by the Watch and the call tried again at the next
// poll; it never ends the Watch.
type PeerPath interface {
	// Observe reports the peer now: its newest probe answer, its last
	// handshake and its endpoint (Observation without Now).
	Observe() (Observation, error)
	// Probe sends one probe through the tunnel to the peer (see
	// tunnel.Device.SendProbe).
	Probe() error
	// Apply points the peer at endpoint, keeping its session; with renew
	// it re-creates the peer instead, so that a fresh handshake starts at
	// once.
	Apply(endpoint string, renew bool) error
}

// Watch runs a Monitor over a PeerPath: it polls the peer every 100 ms,
// sends a probe every DefaultProbeEvery (every 250 ms while the newest
// answer is late) and at once after a change, and applies what the
// Monitor decides; when the Monitor gives the peer up, Run returns and
// GaveUp says so. Health, Current and GaveUp are safe for concurrent use
// with Run.
type Watch struct {
	path PeerPath
	log  *slog.Logger

	mu      sync.Mutex
	m       *Monitor
	changes uint64
	gaveUp  bool
}

// NewWatch returns a Watch of m over path; log receives the changes of
// transport (Info) and errors.
func NewWatch(m *Monitor, path PeerPath, log *slog.Logger) *Watch {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Watch{m: m, path: path, log: log}
}

// Current returns the endpoint the Monitor uses ("" when it follows).
func (w *Watch) Current() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.m.Current()
}

// Health returns the Monitor's judgement now.
func (w *Watch) Health() Health {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.m.Health(time.Now())
}

// Changes counts the moves to another transport so far.
func (w *Watch) Changes() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changes
}

// GaveUp reports whether the Monitor gave the peer up
// (MonitorConfig.GiveUpAfter), which ended Run.
func (w *Watch) GaveUp() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gaveUp
}

// Run watches until ctx ends or the Monitor gives the peer up.
func (w *Watch) Run(ctx context.Context) {
	t := time.NewTicker(watchPoll)
	defer t.Stop()
	var lastProbe time.Time
	for {
		o, err := w.path.Observe()
		if err != nil {
			w.log.Debug("path monitor: observing the peer failed", "error", err.Error())
		} else {
			o.Now = time.Now()
			w.mu.Lock()
			before, state := w.m.Current(), w.m.State()
			ep, act := w.m.Observe(o)
			after := w.m.State()
			if act == GiveUp {
				w.gaveUp = true
				last := w.m.lastAnswer
				w.mu.Unlock()
				w.log.Warn("path monitor: no answer from the peer over any transport; giving it up", "endpoint", ep,
					"silent_for", time.Since(last).Round(100*time.Millisecond).String())
				return
			}
			if act != Keep && ep != before {
				w.changes++
			}
			w.mu.Unlock()
			if act != Keep {
				if err := w.path.Apply(ep, act == Renew); err != nil {
					w.log.Warn("path monitor: changing the peer's endpoint failed", "endpoint", ep, "error", err.Error())
				}
				switch {
				case ep != before:
					w.log.Info("changing transport", "endpoint", ep, "previous", before, "state", after, "was", state)
				default:
					w.log.Debug("path monitor: peer re-pointed", "endpoint", ep, "action", act.String(), "reported", o.Endpoint)
				}
				lastProbe = time.Time{}
			}
			if after == stateWorking && state != stateWorking && ep != "" {
				w.log.Info("transport working", "endpoint", ep, "was", state)
			}
		}
		every := DefaultProbeEvery
		w.mu.Lock()
		if time.Since(w.m.lastAnswer) > answerLate {
			every = probeRetry
		}
		w.mu.Unlock()
		if time.Since(lastProbe) >= every {
			if err := w.path.Probe(); err != nil {
				w.log.Debug("path monitor: probe not sent", "error", err.Error())
			}
			lastProbe = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
