package netnstests

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"intransit/netns-tests/netlab"
)

// iperfMbps runs one iperf3 TCP stream for secs seconds from one host to a
// server on another and returns the received rate in Mbit/s.
func iperfMbps(b *testing.B, from, to *netlab.Host, addr string, secs string) float64 {
	b.Helper()
	srv := to.Start("iperf3", "-s", "-1", "-B", addr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := 0; ; i++ {
		if out, err := to.Run(ctx, "ss", "-Hltn", "sport", "= :5201"); err == nil && len(out) > 0 {
			break
		}
		if i == 100 {
			b.Fatalf("iperf3 server not listening:\n%s", srv.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, err := from.Run(ctx, "iperf3", "-c", addr, "-t", secs, "-J")
	if err != nil {
		b.Fatalf("iperf3: %v\n%s", err, out)
	}
	_ = srv.Wait(ctx)
	var res struct {
		Error string `json:"error"`
		End   struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		b.Fatalf("iperf3 output: %v\n%s", err, out)
	}
	if res.Error != "" || res.End.SumReceived.BitsPerSecond == 0 {
		b.Fatalf("iperf3 measured nothing (%s):\n%s", res.Error, out)
	}
	return res.End.SumReceived.BitsPerSecond / 1e6
}

// BenchmarkS2S measures, in the demo topology, one TCP stream from site A
// to site B through both gateways over each transport, beside the same
// path routed in the clear (the reference: no tunnel, the router knows the
// site prefixes), and the time from starting both daemons to both tunnels
// up. Run with -benchtime 1x -count N; each run is a fresh topology.
func BenchmarkS2S(b *testing.B) {
	for _, sys := range []string{"routed", "udp", "quic", "tls"} {
		b.Run(sys, func(b *testing.B) {
			l := newS2SLab(b)
			if sys == "routed" {
				l.router.AddRoute(s2sSiteA, s2sWanA)
				l.router.AddRoute(s2sSiteB, s2sWanB)
				b.ResetTimer()
				for range b.N {
					b.ReportMetric(iperfMbps(b, l.siteA, l.siteB, s2sHostB, "5"), "Mbit/s")
				}
				return
			}
			l.cfgA.remotes[0].transports = sys
			l.cfgB.remotes[0].transports = sys
			start := time.Now()
			a, bg := l.start(b)
			a.waitUp("site-b", 30*time.Second)
			bg.waitUp("site-a", 30*time.Second)
			bringup := time.Since(start)
			b.ResetTimer()
			for range b.N {
				b.ReportMetric(iperfMbps(b, l.siteA, l.siteB, s2sHostB, "5"), "Mbit/s")
			}
			b.StopTimer()
			// Reported after ResetTimer, which drops earlier metrics.
			b.ReportMetric(float64(bringup.Milliseconds()), "bringup-ms")
			a.stop()
			bg.stop()
		})
	}
}
