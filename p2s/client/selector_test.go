package client

import (
	"testing"
	"time"
)

// step is one poll: seconds since the start, whether a handshake has
// completed on the current peer, its rx bytes, the peer's endpoint as
// WireGuard reports it (empty: the one the selector chose), and what the
// selector must answer.
type step struct {
	at        float64
	handshake bool
	rx        uint64
	current   string
	want      string
	act       action
}

func TestSelector(t *testing.T) {
	eps := []string{"udp://gw:51821", "quic://gw:443", "tls://gw:443"}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"udp works at once", []step{
			{0.5, true, 100, "", eps[0], keep},
			{4.5, true, 200, "", eps[0], keep},
			{60, true, 20000, "", eps[0], keep},
		}},
		{"udp blocked: quic after the attempt, retries at doubling intervals inside it", []step{
			{0.05, false, 0, "", eps[0], keep},
			{0.1, false, 0, "", eps[0], renew},
			{0.2, false, 0, "", eps[0], keep},
			{0.3, false, 0, "", eps[0], renew},
			{0.6, false, 0, "", eps[0], keep},
			{0.7, false, 0, "", eps[0], renew},
			{1.5, false, 0, "", eps[0], renew},
			{2.4, false, 0, "", eps[0], keep},
			{2.5, false, 0, "", eps[0], renew},
			{4.0, false, 0, "", eps[1], renew},
			{4.05, false, 0, "", eps[1], keep},
			{4.15, false, 0, "", eps[1], renew},
			{4.5, true, 100, "", eps[1], keep},
		}},
		{"udp and quic blocked: tls", []step{
			{3.9, false, 0, "", eps[0], renew},
			{4.0, false, 0, "", eps[1], renew},
			{8.0, false, 0, "", eps[2], renew},
			{8.5, true, 50, "", eps[2], keep},
		}},
		{"working transport stalls: next one", []step{
			{0.5, true, 100, "", eps[0], keep},
			{2.0, true, 200, "", eps[0], keep},
			{6.9, true, 200, "", eps[0], keep},
			{7.0, true, 200, "", eps[1], renew},
			{7.5, true, 40, "", eps[1], keep},
		}},
		{"probes of udp from quic keep the session: roamed back, silent, then working", []step{
			{3.9, false, 0, "", eps[0], renew},
			{4.0, false, 0, "", eps[1], renew},
			{4.5, true, 100, "", eps[1], keep},
			{10, true, 300, "", eps[1], keep},
			{24.5, true, 900, "", eps[0], move},              // probe after 20 s on quic
			{24.8, true, 950, "quic://gw:443", eps[0], move}, // a packet in flight: point it back
			{26.0, true, 990, "quic://gw:443", eps[1], move}, // the gateway still sends over quic: failed
			{26.5, true, 1200, "", eps[1], keep},             // quic carries on
			{65.9, true, 5000, "", eps[1], keep},             // the next probe waits 40 s
			{66.0, true, 5100, "", eps[0], move},             // probe
			{72.0, true, 5100, "", eps[1], move},             // nothing at all for 6 s: failed
			{152.0, true, 9000, "", eps[0], move},            // probe after 80 s
			{153.0, true, 9100, "", eps[0], keep},            // packets over udp...
			{155.1, true, 9300, "", eps[0], keep},            // ...for 3 s: working
			{400, true, 90000, "", eps[0], keep},             // and stays
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Unix(1000, 0)
			s, err := newSelector(eps, DefaultAttempt, DefaultStallAfter, DefaultProbeEvery, t0)
			if err != nil {
				t.Fatal(err)
			}
			for i, st := range tc.steps {
				now := t0.Add(time.Duration(st.at * float64(time.Second)))
				var hs time.Time
				if st.handshake {
					hs = now
				}
				cur := st.current
				if cur == "" {
					cur = s.current()
				}
				got, act := s.observe(now, hs, st.rx, cur)
				if got != st.want || act != st.act {
					t.Fatalf("step %d (t=%.1fs): got %s action %d, want %s action %d (state %s)", i, st.at, got, act, st.want, st.act, s.state)
				}
			}
		})
	}
	if _, err := newSelector(nil, time.Second, time.Second, time.Second, time.Now()); err == nil {
		t.Error("a selector without endpoints")
	}
}
