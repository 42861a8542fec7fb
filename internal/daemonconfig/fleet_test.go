package daemonconfig

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// goodFleet is a gateway that shares its clients with another over etcd.
var goodFleet = strings.Replace(goodP2S, "  pools: [", "  gateways: [192.0.2.1, gw-b.example]\n  announce: lan0\n  pools: [", 1) + `store:
  backend: etcd
  etcd:
    endpoints: [https://10.0.0.5:2379]
    ca: etcd-ca.pem
    cert: gw-chain.pem
    key: gw.key
`

func TestParseFleet(t *testing.T) {
	c, err := Parse("/etc/intransitd/gw.yaml", []byte(goodFleet))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.P2S.Gateways, []string{"192.0.2.1", "gw-b.example"}) || c.P2S.Announce != "lan0" {
		t.Fatalf("fleet: %+v", c.P2S.P2SFleet)
	}
}

func TestFleetErrors(t *testing.T) {
	for _, tc := range []struct {
		name, from, to, field string
	}{
		{"gateway with a port", "gw-b.example]", "gw-b.example:8444]", "p2s.gateways[1]"},
		{"gateway twice", "[192.0.2.1, gw-b.example]", "[192.0.2.1, 192.0.2.1]", "p2s.gateways[1]"},
		{"bad interface", "announce: lan0", "announce: lan/0", "p2s.announce"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(goodFleet, tc.from, tc.to, 1)
			if text == goodFleet {
				t.Fatalf("replacement %q not found", tc.from)
			}
			_, err := Parse("gw.yaml", []byte(text))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v, want *Error", err)
			}
			if ce.Field != tc.field {
				t.Errorf("got %s (field %q), want field %q", ce, ce.Field, tc.field)
			}
		})
	}
}

func TestFleetNeedsEtcd(t *testing.T) {
	_, err := Parse("gw.yaml", []byte(goodFleet[:strings.Index(goodFleet, "store:")]))
	var ce *Error
	if !errors.As(err, &ce) || ce.Field != "p2s.gateways" {
		t.Fatalf("gateways on bolt: %v, want an error on p2s.gateways", err)
	}
}
