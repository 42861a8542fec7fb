package gatewaycore

import (
	"net"
	"net/netip"
	"slices"
	"testing"

	"intransit/tunnel/control"
	"intransit/tunnel/transport/multi"
)

func TestAdvertised(t *testing.T) {
	served := []multi.Listener{
		{Name: "udp", Endpoint: netip.MustParseAddrPort("0.0.0.0:51820")},
		{Name: "quic", Endpoint: netip.MustParseAddrPort("192.0.2.1:443")},
	}
	local := &net.TCPAddr{IP: net.ParseIP("::ffff:198.51.100.1"), Port: 8443}
	want := []control.Transport{
		{Name: "udp", Endpoint: netip.MustParseAddrPort("198.51.100.1:51820")},
		{Name: "quic", Endpoint: netip.MustParseAddrPort("192.0.2.1:443")},
	}
	if got := Advertised(served, local); !slices.Equal(got, want) {
		t.Errorf("Advertised = %v, want %v", got, want)
	}
	// Without a TCP address to stand for the unspecified one, only the
	// specific endpoint is advertised.
	if got := Advertised(served, &net.UnixAddr{Name: "sock"}); !slices.Equal(got, want[1:]) {
		t.Errorf("Advertised without a local address = %v, want %v", got, want[1:])
	}
}
