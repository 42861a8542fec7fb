package multi

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/netip"

	"intransit/tunnel/transport"
	"intransit/tunnel/transport/quic"
	transporttls "intransit/tunnel/transport/tls"
	"intransit/tunnel/transport/udp"
)

// Listener is one data-plane transport a gateway serves.
type Listener struct {
	// Name is transport.UDP, transport.QUIC or transport.TLS.
	Name string
	// Endpoint is the advertised address and the listen port.
	Endpoint netip.AddrPort
}

// DataTLS returns the TLS configurations of the quic and tls transports:
// server for the connections peers make, client for the ones this side
// dials (nil when it never dials). Listen calls it once per such transport.
type DataTLS func() (server, client *tls.Config, err error)

// Listen builds one Bind that serves every listener, in the given order
// (list UDP first: see the package doc), each on its endpoint's port.
func Listen(listeners []Listener, dataTLS DataTLS, log *slog.Logger) (*Bind, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	members := make([]Member, 0, len(listeners))
	for _, l := range listeners {
		var b transport.Bind
		switch l.Name {
		case transport.UDP:
			b = udp.New()
		case transport.QUIC, transport.TLS:
			server, client, err := dataTLS()
			if err != nil {
				return nil, fmt.Errorf("multi transport: %s: data-plane TLS: %w", l.Name, err)
			}
			if l.Name == transport.QUIC {
				b, err = quic.New(quic.Config{ServerTLS: server, ClientTLS: client, Logger: log.With("component", "quic")})
			} else {
				b, err = transporttls.New(transporttls.Config{ServerTLS: server, ClientTLS: client, Logger: log.With("component", "tls")})
			}
			if err != nil {
				return nil, fmt.Errorf("multi transport: %s: %w", l.Name, err)
			}
		default:
			return nil, fmt.Errorf("multi transport: unknown transport %q", l.Name)
		}
		members = append(members, Member{Bind: b, Port: l.Endpoint.Port()})
	}
	return New(members...)
}

// Names returns "name/port" for each listener, for logs and status.
func Names(listeners []Listener) []string {
	out := make([]string, len(listeners))
	for i, l := range listeners {
		out[i] = fmt.Sprintf("%s/%d", l.Name, l.Endpoint.Port())
	}
	return out
}
