package gatewaycore

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultLogEvery is the interval of LimitLog's loggers in the gateways:
// one line per message and reason every 10 seconds at most.
const DefaultLogEvery = 10 * time.Second

// maxLogKeys bounds the (message, reason) pairs a limited logger tracks;
// beyond it, new pairs share one budget.
const maxLogKeys = 256

// LimitLog returns a logger that writes through log at most one record per
// message and "reason" attribute every interval; the first record after a
// quiet stretch carries "suppressed", the count of those dropped since the
// last one written. Loggers derived with With share the budget.
func LimitLog(log *slog.Logger, every time.Duration) *slog.Logger {
	return slog.New(&limitedHandler{next: log.Handler(), lim: &logLimiter{every: every, keys: map[string]*logBudget{}}})
}

// logLimiter keeps the budget of each (message, reason).
type logLimiter struct {
	every time.Duration
	mu    sync.Mutex
	keys  map[string]*logBudget
}

type logBudget struct {
	last       time.Time
	suppressed uint64
}

// allow reports whether a record of key at now is written, and how many
// were suppressed before it.
func (l *logLimiter) allow(key string, now time.Time) (bool, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.keys[key]
	if !ok {
		if len(l.keys) >= maxLogKeys {
			key = "\x00overflow"
			b = l.keys[key]
		}
		if b == nil {
			b = &logBudget{}
			l.keys[key] = b
			b.last = now
			return true, 0
		}
	}
	if now.Sub(b.last) < l.every {
		b.suppressed++
		return false, 0
	}
	n := b.suppressed
	b.last, b.suppressed = now, 0
	return true, n
}

type limitedHandler struct {
	next slog.Handler
	lim  *logLimiter
}

func (h *limitedHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h *limitedHandler) Handle(ctx context.Context, r slog.Record) error {
	key := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "reason" {
			key += "\x00" + a.Value.String()
			return false
		}
		return true
	})
	ok, suppressed := h.lim.allow(key, r.Time)
	if !ok {
		return nil
	}
	if suppressed > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Uint64("suppressed", suppressed))
	}
	return h.next.Handle(ctx, r)
}

func (h *limitedHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &limitedHandler{next: h.next.WithAttrs(as), lim: h.lim}
}

func (h *limitedHandler) WithGroup(name string) slog.Handler {
	return &limitedHandler{next: h.next.WithGroup(name), lim: h.lim}
}
