package console

import (
	"sync"
	"time"

	"intransit/internal/status"
)

// Throughput keeps, per tunnel, the byte counters sampled over a window in
// a fixed ring: memory is bounded by the number of tunnels times
// window/every samples. A tunnel missing from a sample is forgotten, so
// removed remotes do not stay. Safe for concurrent use.
type Throughput struct {
	every, window time.Duration
	size          int

	mu     sync.Mutex
	series map[string]*ring
}

// sample is one reading of a tunnel's cumulative counters.
type sample struct {
	at     time.Time
	rx, tx uint64
}

// ring is a fixed-size ring of samples, oldest overwritten first.
type ring struct {
	buf  []sample
	next int
	n    int
}

func (r *ring) add(s sample) {
	r.buf[r.next] = s
	r.next = (r.next + 1) % len(r.buf)
	if r.n < len(r.buf) {
		r.n++
	}
}

// ordered returns the samples oldest first.
func (r *ring) ordered() []sample {
	out := make([]sample, 0, r.n)
	start := (r.next - r.n + len(r.buf)) % len(r.buf)
	for i := range r.n {
		out = append(out, r.buf[(start+i)%len(r.buf)])
	}
	return out
}

// Rate is the mean throughput between two samples, in bytes per second.
type Rate struct {
	// From and At are the start and the end of the interval.
	From, At time.Time
	// Rx and Tx are received and sent bytes per second.
	Rx, Tx float64
}

// NewThroughput keeps samples taken every every over window.
func NewThroughput(every, window time.Duration) *Throughput {
	return &Throughput{every: every, window: window, size: int(window/every) + 1, series: map[string]*ring{}}
}

// Record adds a sample of every peer's counters taken at at.
func (t *Throughput) Record(at time.Time, peers []status.Peer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	seen := make(map[string]bool, len(peers))
	for _, p := range peers {
		seen[p.Name] = true
		r := t.series[p.Name]
		if r == nil {
			r = &ring{buf: make([]sample, t.size)}
			t.series[p.Name] = r
		}
		r.add(sample{at: at, rx: p.RxBytes, tx: p.TxBytes})
	}
	for name := range t.series {
		if !seen[name] {
			delete(t.series, name)
		}
	}
}

// Rates returns the tunnel's throughput between consecutive samples within
// the window ending at now, oldest first. An interval over which a counter
// went down (a new session started from zero) counts what the new session
// carried since.
func (t *Throughput) Rates(name string, now time.Time) []Rate {
	t.mu.Lock()
	r := t.series[name]
	var ss []sample
	if r != nil {
		ss = r.ordered()
	}
	t.mu.Unlock()
	var out []Rate
	for i := 1; i < len(ss); i++ {
		a, b := ss[i-1], ss[i]
		if now.Sub(b.at) > t.window || !b.at.After(a.at) {
			continue
		}
		secs := b.at.Sub(a.at).Seconds()
		out = append(out, Rate{From: a.at, At: b.at, Rx: float64(delta(a.rx, b.rx)) / secs, Tx: float64(delta(a.tx, b.tx)) / secs})
	}
	return out
}

// delta is how much a counter grew from a to b; a counter that restarted
// from zero grew by b.
func delta(a, b uint64) uint64 {
	if b < a {
		return b
	}
	return b - a
}
