package multi

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/netip"

	"intransit/tunnel/transport"
	"intransit/tunnel/transport/registry"
)

// Listener is one data-plane transport a gateway serves.
type Listener struct {
	// Name is a transport's name in the registry.
	Name string
	// Endpoint is the advertised address and the listen port.
	Endpoint netip.AddrPort
}

// DataTLS returns the TLS configurations of the quic and tls transports:
// server for the connections peers make, client for the ones this side
// dials (nil when it never dials). Listen calls it once per such transport.
type DataTLS func() (server, client *tls.Config, err error)

// Listen builds one Bind that serves every listener, in the given order
// (list UDP first: see the package doc), each on its endpoint's port, with
// packets and segments sized for a path of MTU pathMTU
// (transport.DefaultPathMTU if 0).
func Listen(listeners []Listener, dataTLS DataTLS, pathMTU int, log *slog.Logger) (*Bind, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	members := make([]Member, 0, len(listeners))
	for _, l := range listeners {
		t, err := registry.Lookup(l.Name)
		if err != nil {
			return nil, fmt.Errorf("multi transport: %w", err)
		}
		opts := transport.Options{PathMTU: pathMTU, Logger: log.With("component", t.Name)}
		if t.TLS {
			if opts.ServerTLS, opts.ClientTLS, err = dataTLS(); err != nil {
				return nil, fmt.Errorf("multi transport: %s: data-plane TLS: %w", l.Name, err)
			}
		}
		b, err := t.New(opts)
		if err != nil {
			return nil, fmt.Errorf("multi transport: %s: %w", l.Name, err)
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
