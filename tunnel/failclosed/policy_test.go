package failclosed

import (
	"net/netip"
	"strings"
	"testing"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestRuleset(t *testing.T) {
	for _, tc := range []struct {
		name      string
		p         Policy
		want, not []string
	}{
		{
			name: "remote sites",
			p: Policy{Interface: "itd-0", Guards: []Guard{
				{Name: "site-b", Prefixes: prefixes("10.2.0.0/24", "fd02::/64")},
				{Name: "site-c", Prefixes: prefixes("10.3.1.0/24", "10.3.0.0/16", "10.4.0.9/16", "10.3.0.0/16")},
			}},
			want: []string{
				"table inet intransit_guard_itd_0 {}\ndelete table inet intransit_guard_itd_0\ntable inet intransit_guard_itd_0 {\n",
				"chain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n\t\toifname \"itd-0\" accept\n",
				"chain output {\n\t\ttype filter hook output priority filter; policy accept;\n\t\toifname \"itd-0\" accept\n",
				"\t\tip daddr { 10.2.0.0/24 } counter reject with icmpx admin-prohibited comment \"site-b\"\n",
				"\t\tip6 daddr { fd02::/64 } counter reject with icmpx admin-prohibited comment \"site-b\"\n",
				// Covered and repeated prefixes go; a host address is masked.
				"\t\tip daddr { 10.3.0.0/16, 10.4.0.0/16 } counter reject with icmpx admin-prohibited comment \"site-c\"\n",
			},
			not: []string{"lockdown", "oifname \"lo\"", "exempt", "dhcp"},
		},
		{
			name: "lockdown",
			p:    Policy{Interface: "itc0", Lockdown: true, Exempt: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("192.0.2.1")}},
			want: []string{
				"\t\toifname \"itc0\" accept\n\t\toifname \"lo\" accept\n\t\tip daddr { 192.0.2.1 } accept comment \"exempt\"\n\t\tip6 daddr { 2001:db8::1 } accept comment \"exempt\"\n",
				"\t\tudp sport 68 udp dport 67 accept comment \"dhcp\"\n",
				"nd-neighbor-solicit",
				"\t\tcounter reject with icmpx admin-prohibited comment \"lockdown\"\n\t}\n",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.p.Validate(); err != nil {
				t.Fatal(err)
			}
			rs := tc.p.Ruleset()
			for _, w := range tc.want {
				if strings.Count(rs, w) == 0 {
					t.Errorf("ruleset lacks %q:\n%s", w, rs)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(rs, n) {
					t.Errorf("ruleset has %q:\n%s", n, rs)
				}
			}
			// Both chains carry the same rules.
			fwd := rs[strings.Index(rs, "chain forward"):strings.Index(rs, "chain output")]
			out := rs[strings.Index(rs, "chain output"):]
			if body := func(s string) string { return s[strings.Index(s, "policy accept;"):strings.Index(s, "\t}")] }; body(fwd) != body(out) {
				t.Errorf("the chains differ:\n%s", rs)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	ok := Policy{Interface: "itd0", Guards: []Guard{{Name: "split tunnel", Prefixes: prefixes("10.0.0.0/8")}}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		p    Policy
		want string
	}{
		{"no interface", Policy{}, `interface ""`},
		{"long interface", Policy{Interface: "a-very-long-interface"}, "interface"},
		{"quote in interface", Policy{Interface: `it"d`}, "interface"},
		{"quote in name", Policy{Interface: "itd0", Guards: []Guard{{Name: `a"b`}}}, `name "a\"b"`},
		{"newline in name", Policy{Interface: "itd0", Guards: []Guard{{Name: "a\nb"}}}, "name"},
		{"zero prefix", Policy{Interface: "itd0", Guards: []Guard{{Name: "x", Prefixes: []netip.Prefix{{}}}}}, "invalid prefix"},
		{"zero exempt", Policy{Interface: "itd0", Exempt: []netip.Addr{{}}}, "invalid exempt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestEmpty(t *testing.T) {
	for _, tc := range []struct {
		p    Policy
		want bool
	}{
		{Policy{Interface: "x"}, true},
		{Policy{Interface: "x", Guards: []Guard{{Name: "a"}}}, true},
		{Policy{Interface: "x", Guards: []Guard{{Name: "a", Prefixes: prefixes("10.0.0.0/8")}}}, false},
		{Policy{Interface: "x", Lockdown: true}, false},
	} {
		if got := tc.p.Empty(); got != tc.want {
			t.Errorf("%+v.Empty() = %v, want %v", tc.p, got, tc.want)
		}
	}
}
