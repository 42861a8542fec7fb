package transport

import (
	"net/netip"
	"testing"
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

func TestInnerMTU(t *testing.T) {
	for _, tc := range []struct {
		scheme   string
		underlay int
		want     int
		bad      bool
	}{
		{scheme: UDP, underlay: 1500, want: 1420},
		{scheme: TLS, underlay: 1500, want: 1420},
		{scheme: QUIC, underlay: 1500, want: 1380},
		{scheme: QUIC, underlay: 9000, want: 1380},
		{scheme: UDP, underlay: 9000, want: 8920},
		{scheme: QUIC, underlay: 1420, want: 1300},
		{scheme: QUIC, underlay: 1400, want: 1280},
		{scheme: QUIC, underlay: 1390, bad: true},
		{scheme: QUIC, underlay: 1200, bad: true},
		{scheme: UDP, underlay: 1280, bad: true},
		{scheme: "sctp", underlay: 1500, bad: true},
	} {
		got, err := InnerMTU(tc.scheme, tc.underlay)
		if tc.bad {
			if err == nil {
				t.Errorf("InnerMTU(%s, %d) = %d, want an error", tc.scheme, tc.underlay, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("InnerMTU(%s, %d) = %d, %v; want %d", tc.scheme, tc.underlay, got, err, tc.want)
		}
	}
	if m, err := FallbackMTU(DefaultOrder(), 1500); err != nil || m != 1380 {
		t.Errorf("FallbackMTU(all, 1500) = %d, %v; want 1380", m, err)
	}
	if m, err := FallbackMTU([]string{UDP, TLS}, 1500); err != nil || m != 1420 {
		t.Errorf("FallbackMTU(udp, tls) = %d, %v; want 1420", m, err)
	}
	if _, err := FallbackMTU(nil, 1500); err == nil {
		t.Error("FallbackMTU(nil) succeeded")
	}
}
