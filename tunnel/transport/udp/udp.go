// Package udp is the WireGuard wire format on UDP, port 51820 by default,
// under the transport.Bind interface. On the wire it is stock WireGuard, so
// it interoperates with the kernel module and wireguard-go.
//
// On Linux the Bind is this package's own: batched sendmmsg/recvmmsg with
// UDP GSO and GRO and sticky source addresses, as wireguard-go's
// StdNetBind, but without its copies. A GSO send points its iovecs at the
// packet buffers instead of copying them into one, and a GRO receive lays
// its iovecs out so that the coalesced datagrams land one per buffer
// instead of being cut apart by copying. Elsewhere it is StdNetBind.
//
// One rule of the transport.Bind contract holds only as it does for stock
// WireGuard: Send hands the batch to the kernel, whose socket send buffer is
// the bounded queue, and if that buffer is full the call waits for room
// rather than dropping. That brief back-pressure is what keeps UDP lossless
// on a fast local link; the datagrams still never outlive the call.
package udp

import (
	"fmt"

	"golang.zx2c4.com/wireguard/conn"

	"intransit/tunnel/transport"
)

// Bind is the UDP transport.Bind: the platform's conn.Bind (see the package
// comment) with endpoint parsing for transport endpoint strings.
type Bind struct {
	conn.Bind
}

var _ transport.Bind = (*Bind)(nil)

// New returns a Bind around a fresh platform conn.Bind.
func New() *Bind { return &Bind{Bind: newBind()} }

// Info describes the transport to the registry: UDP port 51820, 80 bytes
// of outer headers and WireGuard overhead, no options used.
func Info() transport.Info {
	return transport.Info{
		Name: transport.UDP, Network: transport.NetworkUDP, DefaultPort: transport.DefaultUDPPort,
		InnerMTU: InnerMTU,
		New:      func(transport.Options) (transport.Bind, error) { return New(), nil },
	}
}

// InnerMTU returns the TUN MTU over a path of MTU pathMTU: the path less
// the outer IPv6 and UDP headers and the WireGuard overhead.
func InnerMTU(pathMTU int) int {
	return pathMTU - transport.IPUDPOverhead - transport.WireGuardOverhead
}

// Scheme returns transport.UDP.
func (b *Bind) Scheme() string { return transport.UDP }

// Owns reports whether ep is an endpoint of the platform conn.Bind.
func (b *Bind) Owns(ep conn.Endpoint) bool { return ownsEndpoint(ep) }

// ParseEndpoint reads "addr:port", "udp://addr:port" or a bare address,
// which gets port 51820.
func (b *Bind) ParseEndpoint(s string) (conn.Endpoint, error) {
	scheme, rest := transport.SplitScheme(s)
	if scheme != "" && scheme != transport.UDP {
		return nil, fmt.Errorf("udp endpoint %q: scheme %q belongs to another transport", s, scheme)
	}
	ap, err := transport.ParseAddrPort(rest, transport.DefaultUDPPort)
	if err != nil {
		return nil, fmt.Errorf("udp endpoint: %w", err)
	}
	return b.Bind.ParseEndpoint(ap.String())
}
