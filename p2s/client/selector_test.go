package client

import (
	"testing"
	"time"
)

// step is one poll: seconds since the start, whether a handshake has
// completed on the current peer, its rx bytes, and what the selector must
// answer.
type step struct {
	at        float64
	handshake bool
	rx        uint64
	want      string
	renew     bool
}

func TestSelector(t *testing.T) {
	eps := []string{"udp://gw:51821", "quic://gw:443", "tls://gw:443"}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"udp works at once", []step{
			{0.5, true, 100, eps[0], false},
			{4.5, true, 200, eps[0], false},
			{60, true, 20000, eps[0], false},
		}},
		{"udp blocked: quic after the attempt, retries at doubling intervals inside it", []step{
			{0.05, false, 0, eps[0], false},
			{0.1, false, 0, eps[0], true},
			{0.2, false, 0, eps[0], false},
			{0.3, false, 0, eps[0], true},
			{0.6, false, 0, eps[0], false},
			{0.7, false, 0, eps[0], true},
			{1.5, false, 0, eps[0], true},
			{2.4, false, 0, eps[0], false},
			{2.5, false, 0, eps[0], true},
			{4.0, false, 0, eps[1], true},
			{4.05, false, 0, eps[1], false},
			{4.15, false, 0, eps[1], true},
			{4.5, true, 100, eps[1], false},
		}},
		{"udp and quic blocked: tls", []step{
			{3.9, false, 0, eps[0], true},
			{4.0, false, 0, eps[1], true},
			{8.0, false, 0, eps[2], true},
			{8.5, true, 50, eps[2], false},
		}},
		{"working transport stalls: next one", []step{
			{0.5, true, 100, eps[0], false},
			{2.0, true, 200, eps[0], false},
			{6.9, true, 200, eps[0], false},
			{7.0, true, 200, eps[1], true},
			{7.5, true, 40, eps[1], false},
		}},
		{"probe udp from quic: fails, back to quic; later succeeds", []step{
			{3.9, false, 0, eps[0], true},
			{4.0, false, 0, eps[1], true},
			{4.5, true, 100, eps[1], false},
			{10, true, 300, eps[1], false},
			{24.5, true, 900, eps[0], true},  // probe after 20 s on quic
			{28.4, false, 0, eps[0], true},   // a retry of the probe
			{28.5, false, 0, eps[1], true},   // udp failed: back to quic
			{29.0, true, 40, eps[1], false},  // quic works again
			{50, true, 500, eps[1], false},   // the next probe waits 40 s
			{69.0, true, 900, eps[0], true},  // probe
			{69.5, true, 30, eps[0], false},  // udp works now
			{200, true, 9000, eps[0], false}, // and stays
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
				got, renew := s.observe(now, hs, st.rx)
				if got != st.want || renew != st.renew {
					t.Fatalf("step %d (t=%.1fs): got %s renew=%v, want %s renew=%v (state %s)", i, st.at, got, renew, st.want, st.renew, s.state)
				}
			}
		})
	}
	if _, err := newSelector(nil, time.Second, time.Second, time.Second, time.Now()); err == nil {
		t.Error("a selector without endpoints")
	}
}
