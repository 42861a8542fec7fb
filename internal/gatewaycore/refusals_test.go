package gatewaycore

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// recorder keeps the records a handler receives.
type recorder struct{ recs *[]slog.Record }

func (r recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r recorder) Handle(_ context.Context, rec slog.Record) error {
	*r.recs = append(*r.recs, rec)
	return nil
}
func (r recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r recorder) WithGroup(string) slog.Handler      { return r }

func attr(rec slog.Record, key string) string {
	v := ""
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

func TestLimitLog(t *testing.T) {
	var recs []slog.Record
	h := LimitLog(slog.New(recorder{&recs}), 10*time.Second).Handler()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	log := func(at time.Duration, msg, reason string) {
		r := slog.NewRecord(t0.Add(at), slog.LevelWarn, msg, 0)
		r.AddAttrs(slog.String("remote_addr", "192.0.2.7:4000"), slog.String("reason", reason))
		if err := h.Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 1000 {
		log(time.Duration(i)*time.Millisecond, "refused", "source_limit")
	}
	log(time.Second, "refused", "busy")            // another reason has its own budget
	log(2*time.Second, "other message", "busy")    // so has another message
	log(11*time.Second, "refused", "source_limit") // the next interval, with the count
	if len(recs) != 4 {
		t.Fatalf("%d lines written, want 4", len(recs))
	}
	if got := attr(recs[0], "suppressed"); got != "" {
		t.Errorf("first line says suppressed=%s", got)
	}
	if got := attr(recs[3], "suppressed"); got != "999" {
		t.Errorf("line after the interval: suppressed=%q, want 999", got)
	}
	if attr(recs[1], "reason") != "busy" || recs[2].Message != "other message" {
		t.Errorf("lines out of order: %v", recs)
	}
}

func TestRefusalsRing(t *testing.T) {
	r := NewRefusals(slog.New(slog.DiscardHandler), "refused", time.Second)
	if l := r.List(); l == nil || len(l) != 0 {
		t.Errorf("empty record lists %v", l)
	}
	for i := range RefusalsKept + 5 {
		r.Record(fmt.Sprintf("192.0.2.%d:4000", i), "", "identity", "no such remote")
	}
	r.Count("revoked")
	l := r.List()
	if len(l) != RefusalsKept || l[0].Remote != "192.0.2.5:4000" || l[len(l)-1].Remote != fmt.Sprintf("192.0.2.%d:4000", RefusalsKept+4) {
		t.Errorf("ring holds %d, first %s, last %s", len(l), l[0].Remote, l[len(l)-1].Remote)
	}
	if c := r.Counts(); c["identity"] != RefusalsKept+5 || c["revoked"] != 1 {
		t.Errorf("counts %v", c)
	}
}

// TestRefusalsFloodKeepsOthers: a host refused a thousand times holds one
// entry per reason, and the other refusals stay listed.
func TestRefusalsFloodKeepsOthers(t *testing.T) {
	r := NewRefusals(slog.New(slog.DiscardHandler), "refused", time.Second)
	r.Record("198.51.100.2:8443", "intransit://t/gateway/gw-c", "identity", "no remote gateway is configured for it")
	for i := range 1000 {
		reason := ReasonSourceLimit
		if i%2 == 1 {
			reason = ReasonHandshakeTimeout
		}
		r.Record(fmt.Sprintf("203.0.113.2:%d", 10000+i), "", reason, "flood")
	}
	l := r.List()
	if len(l) != 3 || l[0].Reason != "identity" {
		t.Fatalf("ring after the flood: %+v, want the identity refusal and one entry per flood reason", l)
	}
	if !strings.Contains(l[2].Detail, "(500 times since ") || l[2].Remote != "203.0.113.2:10999" {
		t.Errorf("the flood's latest entry: %+v", l[2])
	}
	if c := r.Counts(); c[ReasonSourceLimit] != 500 || c[ReasonHandshakeTimeout] != 500 {
		t.Errorf("counts %v", c)
	}
}
