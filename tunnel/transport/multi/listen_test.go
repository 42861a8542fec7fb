package multi

import (
	"crypto/tls"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"intransit/tunnel/transport"
)

func TestNames(t *testing.T) {
	ls := []Listener{
		{Name: transport.UDP, Endpoint: netip.MustParseAddrPort("192.0.2.1:51820")},
		{Name: transport.TLS, Endpoint: netip.MustParseAddrPort("192.0.2.1:443")},
	}
	if got, want := Names(ls), []string{"udp/51820", "tls/443"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Names = %v, want %v", got, want)
	}
}

func TestListenRefuses(t *testing.T) {
	noTLS := func() (*tls.Config, *tls.Config, error) { return nil, nil, errors.New("no certificate loaded") }
	cases := []struct {
		name      string
		listeners []Listener
		want      string
	}{
		{"unknown transport", []Listener{{Name: "sctp"}}, `unknown transport "sctp"`},
		{"tls config fails", []Listener{{Name: transport.UDP}, {Name: transport.QUIC}}, "quic: data-plane TLS: no certificate loaded"},
		{"nothing to serve", nil, "no members"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Listen(c.listeners, noTLS, 0, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Listen error = %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestListenOrder(t *testing.T) {
	b, err := Listen([]Listener{
		{Name: transport.UDP, Endpoint: netip.MustParseAddrPort("[::]:51820")},
	}, nil, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.members) != 1 || b.members[0].Bind.Scheme() != transport.UDP || b.members[0].Port != 51820 {
		t.Fatalf("members = %+v, want one udp member on 51820", b.members)
	}
}
