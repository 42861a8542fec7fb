package transport

import (
	"net/netip"
	"testing"
	"time"
)

func TestSplitScheme(t *testing.T) {
	for _, tc := range []struct{ in, scheme, rest string }{
		{"quic://192.0.2.1:443", "quic", "192.0.2.1:443"},
		{"TLS://[2001:db8::1]:443", "tls", "[2001:db8::1]:443"},
		{"192.0.2.1:51820", "", "192.0.2.1:51820"},
		{"[::1]:1", "", "[::1]:1"},
	} {
		s, r := SplitScheme(tc.in)
		if s != tc.scheme || r != tc.rest {
			t.Errorf("SplitScheme(%q) = %q, %q; want %q, %q", tc.in, s, r, tc.scheme, tc.rest)
		}
	}
}

func TestParseAddrPort(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		bad  bool
	}{
		{in: "192.0.2.1:443", want: "192.0.2.1:443"},
		{in: "192.0.2.1", want: "192.0.2.1:9"},
		{in: "[2001:db8::1]:443", want: "[2001:db8::1]:443"},
		{in: "2001:db8::1", want: "[2001:db8::1]:9"},
		{in: "[2001:db8::1]", want: "[2001:db8::1]:9"},
		{in: "[::ffff:192.0.2.1]:5", want: "192.0.2.1:5"},
		{in: "192.0.2.1:0", bad: true},
		{in: "192.0.2.1:70000", bad: true},
		{in: "gw.example:443", bad: true},
		{in: "gw.example", bad: true},
		{in: "", bad: true},
	} {
		got, err := ParseAddrPort(tc.in, 9)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseAddrPort(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != netip.MustParseAddrPort(tc.want) {
			t.Errorf("ParseAddrPort(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestSchemeOf(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "192.0.2.1:51820": UDP, "quic://192.0.2.1:443": QUIC, "TLS://[::1]:443": TLS, "udp://[::1]:1": UDP,
	} {
		if got := SchemeOf(in); got != want {
			t.Errorf("SchemeOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTCPMSS(t *testing.T) {
	if got := TCPMSS(MinPathMTU); got != 1220 {
		t.Errorf("TCPMSS(%d) = %d, want 1220", MinPathMTU, got)
	}
}

func TestFallback(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	eps := []string{"192.0.2.1:51820", "quic://192.0.2.1:443", "tls://192.0.2.1:443"}
	f, err := NewFallback(eps, 6*time.Second, t0)
	if err != nil {
		t.Fatal(err)
	}
	var none time.Time
	steps := []struct {
		at        time.Duration
		handshake time.Duration // -1: none yet
		want      string
		changed   bool
	}{
		{at: 0, handshake: -1, want: eps[0]},
		{at: 5 * time.Second, handshake: -1, want: eps[0]},
		{at: 6 * time.Second, handshake: -1, want: eps[1], changed: true},
		{at: 11 * time.Second, handshake: -1, want: eps[1]},
		{at: 12 * time.Second, handshake: -1, want: eps[2], changed: true},
		{at: 18 * time.Second, handshake: -1, want: eps[0], changed: true},
		{at: 24 * time.Second, handshake: -1, want: eps[1], changed: true},
		// QUIC works: a handshake after the switch keeps it, for minutes.
		{at: 25 * time.Second, handshake: 25 * time.Second, want: eps[1]},
		{at: 25*time.Second + StaleAfter, handshake: 25 * time.Second, want: eps[1]},
		// Handshakes stop: one more attempt period, then move on.
		{at: 25*time.Second + StaleAfter + 5*time.Second, handshake: 25 * time.Second, want: eps[1]},
		{at: 25*time.Second + StaleAfter + 6*time.Second, handshake: 25 * time.Second, want: eps[2], changed: true},
	}
	for i, s := range steps {
		hs := none
		if s.handshake >= 0 {
			hs = t0.Add(s.handshake)
		}
		got, changed := f.Observe(t0.Add(s.at), hs)
		if got != s.want || changed != s.changed {
			t.Fatalf("step %d (t=%v): got %q changed=%v, want %q changed=%v", i, s.at, got, changed, s.want, s.changed)
		}
	}
	if _, err := NewFallback(nil, 0, t0); err == nil {
		t.Error("NewFallback(nil) succeeded")
	}
	one, _ := NewFallback(eps[:1], 0, t0)
	if got, changed := one.Observe(t0.Add(time.Hour), none); got != eps[0] || changed {
		t.Errorf("single endpoint: %q changed=%v", got, changed)
	}
}
