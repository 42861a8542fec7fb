package gatewaycore

import (
	"net"
	"net/netip"

	"intransit/tunnel/control"
	"intransit/tunnel/transport/multi"
)

// Advertised lists the data-plane endpoints of the served transports for
// a peer that reached the control channel at local: an unspecified listen
// address becomes local's address.
func Advertised(served []multi.Listener, local net.Addr) []control.Transport {
	var at netip.Addr
	if ta, ok := local.(*net.TCPAddr); ok {
		at = ta.AddrPort().Addr().Unmap()
	}
	var out []control.Transport
	for _, l := range served {
		a := l.Endpoint.Addr().Unmap()
		if a.IsUnspecified() {
			a = at
		}
		if a.IsValid() {
			out = append(out, control.Transport{Name: l.Name, Endpoint: netip.AddrPortFrom(a, l.Endpoint.Port())})
		}
	}
	return out
}
