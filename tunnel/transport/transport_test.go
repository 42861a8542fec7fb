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
