package transport

import (
	"strings"
	"testing"
	"time"
)

// pmStep is one poll of a Monitor: seconds since the start; the newest
// answered probe (when its request was sent and its answer came, -1 for
// none); whether a WireGuard session exists; the peer's endpoint as
// WireGuard reports it (empty: the Monitor's current one); and what the
// Monitor must answer and whether Health must say up.
type pmStep struct {
	at         float64
	sent, recv float64
	session    bool
	endpoint   string
	want       string
	act        Action
	up         bool
}

func TestMonitor(t *testing.T) {
	eps := []string{"udp://gw:51820", "quic://gw:443", "tls://gw:443"}
	for _, tc := range []struct {
		name  string
		eps   []string
		steps []pmStep
	}{
		{"udp answers at once and an idle tunnel never moves", eps, []pmStep{
			{0.05, -1, -1, false, "", eps[0], Keep, false},
			{0.1, -1, -1, false, "", eps[0], Renew, false}, // no session yet: a fresh initiation
			{0.3, 0.15, 0.25, true, "", eps[0], Keep, true},
			{60, 59, 59.01, true, "", eps[0], Keep, true},
			{300, 299, 299.01, true, "gw:51820", eps[0], Keep, true},
		}},
		{"udp dies in both directions: degraded after 3 s, quic after 5 s, the session kept", eps, []pmStep{
			{0.3, 0.2, 0.25, true, "", eps[0], Keep, true},
			{60, 59.9, 60, true, "", eps[0], Keep, true},
			{62.9, 59.9, 60, true, "", eps[0], Keep, true},
			{63, 59.9, 60, true, "", eps[0], Keep, false},
			{64.9, 59.9, 60, true, "", eps[0], Keep, false},
			{65, 59.9, 60, true, "", eps[1], Move, false},
			{65.2, 59.9, 60, true, "", eps[1], Keep, false},
			{65.5, 65.1, 65.4, true, "", eps[1], Keep, true},
		}},
		{"one-way block: the peer's packets still come over udp, answers stop; roaming is pointed back", eps, []pmStep{
			{0.3, 0.2, 0.25, true, "", eps[0], Keep, true},
			{30, 29.5, 29.6, true, "", eps[0], Keep, true},
			{34.6, 29.5, 29.6, true, "gw:51820", eps[1], Move, false},
			{34.8, 29.5, 29.6, true, "gw:51820", eps[1], Move, false}, // WireGuard roamed to udp: back to quic
			{35.0, 34.7, 35.0, true, "quic://gw:443", eps[1], Keep, true},
		}},
		{"an answer in flight over the old transport does not count", eps, []pmStep{
			{0.3, 0.2, 0.25, true, "", eps[0], Keep, true},
			{10, 4.9, 5.0, true, "", eps[1], Move, false},
			{10.3, 9.5, 10.2, true, "", eps[1], Keep, false}, // sent before the move
			{10.6, 10.1, 10.5, true, "", eps[1], Keep, true},
		}},
		{"nothing answers: every transport in turn, renewed while there is no session", eps, []pmStep{
			{0.1, -1, -1, false, "", eps[0], Renew, false},
			{0.25, -1, -1, false, "", eps[0], Keep, false},
			{0.3, -1, -1, false, "", eps[0], Renew, false},
			{0.6, -1, -1, false, "", eps[0], Keep, false},
			{0.7, -1, -1, false, "", eps[0], Renew, false},
			{4.0, -1, -1, false, "", eps[1], Renew, false},
			{8.0, -1, -1, false, "", eps[2], Renew, false},
			{12.0, -1, -1, false, "", eps[0], Renew, false},
			{12.5, 12.1, 12.4, true, "", eps[0], Keep, true},
		}},
		{"rechecks of udp from quic: failed (back within 2 s, the wait doubles), then udp works and stays", eps, []pmStep{
			{4.0, -1, -1, false, "", eps[1], Renew, false},
			{4.5, 4.1, 4.3, true, "", eps[1], Keep, true},
			{23.9, 23.5, 23.6, true, "", eps[1], Keep, true},
			{24.0, 23.5, 23.6, true, "", eps[0], Move, true},              // recheck after 20 s
			{24.5, 23.5, 23.6, true, "quic://gw:443", eps[0], Move, true}, // the peer still sends over quic
			{26.0, 23.5, 23.6, true, "", eps[1], Move, true},              // no answer over udp: back
			{26.5, 26.1, 26.2, true, "", eps[1], Keep, true},
			{65.9, 65.1, 65.2, true, "", eps[1], Keep, true},
			{66.0, 65.1, 65.2, true, "", eps[0], Move, true}, // after 40 s
			{68.0, 65.1, 65.2, true, "", eps[1], Move, true},
			{68.5, 68.1, 68.2, true, "", eps[1], Keep, true},
			{108.0, 107.1, 107.2, true, "", eps[0], Move, true}, // at most 40 s
			{108.5, 108.1, 108.2, true, "", eps[0], Keep, true},
			{400, 399.5, 399.6, true, "", eps[0], Keep, true},
		}},
		{"a following side never moves and judges the answers", nil, []pmStep{
			{0.5, -1, -1, false, "quic://192.0.2.9:4711", "", Keep, false},
			{1, 0.6, 0.7, true, "quic://192.0.2.9:4711", "", Keep, true},
			{3.6, 0.6, 0.7, true, "quic://192.0.2.9:4711", "", Keep, true},
			{3.7, 0.6, 0.7, true, "quic://192.0.2.9:4711", "", Keep, false},
			{300, 0.6, 0.7, true, "quic://192.0.2.9:4711", "", Keep, false},
			{300.5, 300.1, 300.2, true, "192.0.2.9:51820", "", Keep, true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Unix(1000, 0)
			at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
			m, err := NewMonitor(MonitorConfig{Endpoints: tc.eps}, t0)
			if err != nil {
				t.Fatal(err)
			}
			for i, st := range tc.steps {
				now := at(st.at)
				o := Observation{Now: now, Endpoint: st.endpoint}
				if o.Endpoint == "" {
					o.Endpoint = m.Current()
				}
				if st.sent >= 0 {
					o.ReplySent, o.ReplyReceived = at(st.sent), at(st.recv)
				}
				if st.session {
					o.LastHandshake = now.Add(-time.Second)
				}
				got, act := m.Observe(o)
				h := m.Health(now)
				if got != st.want || act != st.act || h.Up != st.up {
					t.Fatalf("step %d (t=%.2fs): got %q %v up=%v (%s), want %q %v up=%v (state %s)", i, st.at, got, act, h.Up, h.Reason, st.want, st.act, st.up, m.State())
				}
				if h.Up != (h.Reason == "") {
					t.Fatalf("step %d: up=%v with reason %q", i, h.Up, h.Reason)
				}
			}
		})
	}
}

// TestMonitorHealth checks what Health says while not up.
func TestMonitorHealth(t *testing.T) {
	t0 := time.Unix(1000, 0)
	m, err := NewMonitor(MonitorConfig{Endpoints: []string{"gw:51820", "quic://gw:443"}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if h := m.Health(t0.Add(2 * time.Second)); h.Up || h.Transport != UDP || !strings.Contains(h.Reason, "no answer through the tunnel yet; trying udp for 2s") {
		t.Errorf("before the first answer: %+v", h)
	}
	m.Observe(Observation{Now: t0.Add(time.Second), ReplySent: t0.Add(500 * time.Millisecond), ReplyReceived: t0.Add(time.Second), LastHandshake: t0})
	if h := m.Health(t0.Add(4 * time.Second)); h.Up || !strings.Contains(h.Reason, "no answer through the tunnel for 3s over udp") {
		t.Errorf("silent for 3 s: %+v", h)
	}
	m.Observe(Observation{Now: t0.Add(6 * time.Second), LastHandshake: t0})
	if h := m.Health(t0.Add(7 * time.Second)); h.Up || h.Transport != QUIC || !strings.Contains(h.Reason, "no answer through the tunnel for 6s; trying quic for 1s") {
		t.Errorf("after the move: %+v", h)
	}
	if _, err := NewMonitor(MonitorConfig{DeadAfter: -time.Second}, t0); err == nil {
		t.Error("a negative duration was accepted")
	}
}

// TestMonitorGiveUp walks a Monitor with GiveUpAfter: a peer that answered
// and then went silent over every transport is given up; one that never
// answered is not.
func TestMonitorGiveUp(t *testing.T) {
	eps := []string{"udp://gw:51820", "quic://gw:443", "tls://gw:443"}
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	hs := func(s float64) time.Time { return at(s).Add(-time.Second) }

	m, err := NewMonitor(MonitorConfig{Endpoints: eps, GiveUpAfter: 7 * time.Second}, t0)
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range []struct {
		at         float64
		sent, recv float64
		want       string
		act        Action
	}{
		{0.3, 0.2, 0.25, eps[0], Keep},
		{30, 29.5, 29.6, eps[0], Keep},
		{34.6, 29.5, 29.6, eps[1], Move}, // DeadAfter: quic, as without GiveUpAfter
		{36.5, 29.5, 29.6, eps[1], Keep},
		{36.6, 29.5, 29.6, eps[1], GiveUp},  // 7 s without an answer over any
		{36.7, 36.65, 36.7, eps[1], GiveUp}, // and it stays given up
	} {
		o := Observation{Now: at(st.at), Endpoint: m.Current(), ReplySent: at(st.sent), ReplyReceived: at(st.recv), LastHandshake: hs(st.at)}
		if got, act := m.Observe(o); got != st.want || act != st.act {
			t.Fatalf("step %d (t=%.1fs): got %q %v, want %q %v", i, st.at, got, act, st.want, st.act)
		}
	}
	if m.State() != stateGivenUp {
		t.Fatalf("state %s", m.State())
	}

	never, err := NewMonitor(MonitorConfig{Endpoints: eps, GiveUpAfter: 7 * time.Second}, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []float64{1, 4, 8, 12, 30} {
		if _, act := never.Observe(Observation{Now: at(s)}); act == GiveUp {
			t.Fatalf("a peer that never answered was given up at %.0f s", s)
		}
	}
	if _, err := NewMonitor(MonitorConfig{GiveUpAfter: -time.Second}, t0); err == nil {
		t.Error("a negative GiveUpAfter was accepted")
	}
}
