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
	var out []byte
	var err error
	for range 50 {
		if out, err = from.Run(ctx, "iperf3", "-c", addr, "-t", secs, "-J"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		b.Fatalf("iperf3: %v\n%s", err, out)
	}
	_ = srv.Wait(ctx)
	var res struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		b.Fatalf("iperf3 output: %v\n%s", err, out)
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
			b.ReportMetric(float64(time.Since(start).Milliseconds()), "bringup-ms")
			b.ResetTimer()
			for range b.N {
				b.ReportMetric(iperfMbps(b, l.siteA, l.siteB, s2sHostB, "5"), "Mbit/s")
			}
			b.StopTimer()
			a.stop()
			bg.stop()
		})
	}
}
