package console

import (
	"strings"
	"testing"
	"time"

	"intransit/internal/status"
)

func TestThroughputRing(t *testing.T) {
	every, window := 10*time.Second, time.Minute
	tp := NewThroughput(every, window)
	peer := func(name string, rx, tx uint64) status.Peer { return status.Peer{Name: name, RxBytes: rx, TxBytes: tx} }
	// 20 samples, 1000 bytes received and 500 sent per second; the ring
	// keeps window/every+1 = 7 of them.
	for i := range 20 {
		tp.Record(t0.Add(time.Duration(i)*every), []status.Peer{peer("a", uint64(i)*10000, uint64(i)*5000), peer("b", 0, 0)})
	}
	now := t0.Add(19 * every)
	rates := tp.Rates("a", now)
	if len(rates) != 6 {
		t.Fatalf("%d rates, want 6 (7 samples kept)", len(rates))
	}
	for _, r := range rates {
		if r.Rx != 1000 || r.Tx != 500 {
			t.Fatalf("rate %+v, want 1000/500 B/s", r)
		}
	}
	if got := len(tp.series["a"].buf); got != 7 {
		t.Fatalf("ring of %d, want 7", got)
	}
	// Much later, everything is outside the window.
	if got := tp.Rates("a", now.Add(2*window)); len(got) != 0 {
		t.Fatalf("%d rates outside the window", len(got))
	}
	// A counter that restarts (new session) counts from zero.
	tp.Record(now.Add(every), []status.Peer{peer("a", 3000, 0)})
	rates = tp.Rates("a", now.Add(every))
	if last := rates[len(rates)-1]; last.Rx != 300 || last.Tx != 0 {
		t.Fatalf("after a restart: %+v, want 300 B/s received", last)
	}
	// A tunnel gone from the report is forgotten.
	if _, ok := tp.series["b"]; ok {
		t.Fatal("tunnel b was kept after it left the report")
	}
	if got := tp.Rates("nobody", now); got != nil {
		t.Fatalf("unknown tunnel: %v", got)
	}
}

func TestChartSVG(t *testing.T) {
	empty := string(chartSVG("a", nil, t0, time.Hour))
	if !strings.Contains(empty, "collecting samples") || strings.Contains(empty, "<polyline") {
		t.Fatalf("empty chart: %s", empty)
	}
	rates := []Rate{{From: t0.Add(-30 * time.Second), At: t0.Add(-20 * time.Second), Rx: 125000, Tx: 1000},
		{From: t0.Add(-20 * time.Second), At: t0.Add(-10 * time.Second), Rx: 250000, Tx: 2000}, {From: t0.Add(-10 * time.Second), At: t0}}
	// Samples covering 30 s of an hour: the chart spans the 30 s.
	svg := string(chartSVG("a<b", rates, t0, time.Hour))
	for _, s := range []string{`<polyline class="rx"`, `<polyline class="tx"`, "2 Mbit/s", "-30 s", "a&lt;b", `points="56.0,`} {
		if !strings.Contains(svg, s) {
			t.Errorf("chart lacks %q:\n%s", s, svg)
		}
	}
	if strings.Contains(svg, "style=") || strings.Contains(svg, "a<b") {
		t.Fatalf("chart breaks the CSP or escaping: %s", svg)
	}
	// Samples older than the window: the chart spans the window.
	old := []Rate{{From: t0.Add(-2 * time.Hour), At: t0.Add(-time.Minute), Rx: 1}}
	if svg := string(chartSVG("a", old, t0, time.Hour)); !strings.Contains(svg, "-60 min") {
		t.Fatalf("a full window: %s", svg)
	}
	for v, want := range map[float64]float64{0: 1, 0.5: 1, 7: 10, 12: 20, 430: 500, 2e6: 2e6, 2.1e6: 5e6} {
		if got := niceCeil(v); got != want {
			t.Errorf("niceCeil(%g) = %g, want %g", v, got, want)
		}
	}
}

func TestQRCode(t *testing.T) {
	svg, err := qrSVG("https://gw.example:8445/#itp1.a.b.c")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(svg), `<svg class="qr"`) || strings.Count(string(svg), "h1v1h-1z") < 100 {
		t.Fatalf("QR code: %.200s", svg)
	}
}
