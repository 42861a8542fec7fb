package control

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func pfxs(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestValidatePrefixes(t *testing.T) {
	tests := []struct {
		in   []netip.Prefix
		want string
	}{
		{pfxs("10.0.0.0/8", "192.168.0.0/16", "fd00::/8"), ""},
		{nil, ""},
		{pfxs("10.0.0.1/8"), "x[0]: 10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)"},
		{pfxs("10.0.0.0/8", "10.1.0.0/16"), "x[1]: 10.1.0.0/16 overlaps x[0] 10.0.0.0/8"},
		{pfxs("10.0.0.0/8", "10.0.0.0/8"), "x[1]: 10.0.0.0/8 overlaps x[0]"},
		{[]netip.Prefix{{}}, "x[0]: invalid prefix"},
		{pfxs("::ffff:10.0.0.0/104"), "IPv4-mapped"},
	}
	for _, tt := range tests {
		err := ValidatePrefixes("x", tt.in)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%v: %v", tt.in, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%v: %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestAgree(t *testing.T) {
	tests := []struct {
		name                    string
		offered, allowed, local []netip.Prefix
		accepted                []netip.Prefix
		refused                 []string // "prefix: why substring"
	}{
		{name: "exact", offered: pfxs("10.2.0.0/16"), allowed: pfxs("10.2.0.0/16"), accepted: pfxs("10.2.0.0/16")},
		{name: "narrower offer inside allowed", offered: pfxs("10.2.3.0/24"), allowed: pfxs("10.2.0.0/16"), accepted: pfxs("10.2.3.0/24")},
		{name: "wider offer narrowed", offered: pfxs("10.0.0.0/8"), allowed: pfxs("10.2.0.0/16", "10.3.0.0/16"),
			accepted: pfxs("10.2.0.0/16", "10.3.0.0/16"), refused: []string{"10.0.0.0/8: narrowed to 10.2.0.0/16, 10.3.0.0/16"}},
		{name: "not allowed", offered: pfxs("10.2.0.0/16", "192.168.5.0/24"), allowed: pfxs("10.2.0.0/16"),
			accepted: pfxs("10.2.0.0/16"), refused: []string{"192.168.5.0/24: not allowed"}},
		{name: "nothing allowed", offered: pfxs("10.2.0.0/16"), refused: []string{"10.2.0.0/16: not allowed"}},
		{name: "peer claims a local prefix", offered: pfxs("10.1.0.0/16", "10.2.0.0/16"), allowed: pfxs("10.0.0.0/8"), local: pfxs("10.1.0.0/16"),
			accepted: pfxs("10.2.0.0/16"), refused: []string{"10.1.0.0/16: overlaps local site prefixes 10.1.0.0/16"}},
		{name: "default route allowed for a client", offered: pfxs("0.0.0.0/0", "::/0"), allowed: pfxs("0.0.0.0/0", "::/0"),
			accepted: pfxs("0.0.0.0/0", "::/0")},
		{name: "families do not mix", offered: pfxs("fd00:2::/48"), allowed: pfxs("0.0.0.0/0"), refused: []string{"fd00:2::/48: not allowed"}},
		{name: "sorted", offered: pfxs("10.9.0.0/16", "10.3.0.0/16"), allowed: pfxs("10.0.0.0/8"), accepted: pfxs("10.3.0.0/16", "10.9.0.0/16")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ag, err := Agree(tt.offered, tt.allowed, tt.local)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ag.Accepted, tt.accepted) {
				t.Errorf("accepted %v, want %v", ag.Accepted, tt.accepted)
			}
			if len(ag.Refused) != len(tt.refused) {
				t.Fatalf("refused %+v, want %v", ag.Refused, tt.refused)
			}
			for i, r := range ag.Refused {
				want := strings.SplitN(tt.refused[i], ": ", 2)
				if r.Prefix.String() != want[0] || !strings.Contains(r.Why, want[1]) {
					t.Errorf("refused[%d] = %s: %s, want %s", i, r.Prefix, r.Why, tt.refused[i])
				}
			}
			for _, a := range ag.Accepted {
				covered := false
				for _, al := range tt.allowed {
					covered = covered || (al.Bits() <= a.Bits() && al.Contains(a.Addr()))
				}
				if !covered {
					t.Errorf("accepted %s is not inside an allowed prefix", a)
				}
			}
		})
	}
}

func TestAgreeRejectsInvalidLists(t *testing.T) {
	for _, tt := range []struct {
		offered, allowed, local []netip.Prefix
		want                    string
	}{
		{pfxs("10.0.0.0/8", "10.1.0.0/16"), nil, nil, "offered[1]"},
		{nil, pfxs("10.0.0.1/8"), nil, "allowed[0]"},
		{nil, nil, pfxs("fd00::/8", "fd00::/16"), "local[1]"},
	} {
		if _, err := Agree(tt.offered, tt.allowed, tt.local); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: want error about %s", err, tt.want)
		}
	}
}
