package transport

import (
	cryptotls "crypto/tls"
	"log/slog"
)

// Networks a transport's listener binds, for port classification: two
// transports on the same network may not share a port.
const (
	NetworkUDP = "udp"
	NetworkTCP = "tcp"
)

// Info describes one transport to the registry (package
// tunnel/transport/registry), so that the configuration, the gateways, the
// laptop client, metrics and the test tools iterate over the transports
// instead of naming them. Each transport package returns its Info from a
// function; a new transport is its own package plus one line in the
// registry's table.
type Info struct {
	// Name is the transport's endpoint scheme and its configuration key.
	Name string
	// Network is what its listener binds: NetworkUDP or NetworkTCP.
	Network string
	// DefaultPort is where it listens, and what completes an endpoint given
	// without a port.
	DefaultPort uint16
	// TLS reports whether the transport carries TLS of its own, i.e. whether
	// New needs Options.ServerTLS or Options.ClientTLS.
	TLS bool
	// InnerMTU returns the MTU of the TUN device when WireGuard messages
	// cross a path of MTU pathMTU (at least MinPathMTU) over this
	// transport: the path MTU less everything the transport and WireGuard
	// add around an inner packet (see the package documentation).
	InnerMTU func(pathMTU int) int
	// New builds a Bind of the transport.
	New func(Options) (Bind, error)
}

// Options is what a Bind is built from. Transports ignore what they do not
// use (udp uses none of it).
type Options struct {
	// ServerTLS, if set, makes a TLS-carrying transport accept connections;
	// ClientTLS, if set, lets it dial. At least one is needed when Info.TLS.
	ServerTLS, ClientTLS *cryptotls.Config
	// PathMTU is the smallest MTU of the path to the peers (DefaultPathMTU
	// if 0): QUIC sizes its packets to it, and TCP connections have their
	// segments clamped to it, so that no packet needs fragmenting or an ICMP
	// "packet too big" to arrive.
	PathMTU int
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
}

// SchemeOf names the transport of an endpoint string: its scheme, or UDP
// for a plain "addr:port" (the WireGuard wire format); "" for an empty
// string (no endpoint known).
func SchemeOf(endpoint string) string {
	if endpoint == "" {
		return ""
	}
	scheme, _ := SplitScheme(endpoint)
	if scheme == "" {
		return UDP
	}
	return scheme
}
