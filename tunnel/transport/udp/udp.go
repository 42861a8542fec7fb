// Package udp is the WireGuard wire format on UDP, port 51820 by default:
// wireguard-go's own StdNetBind, with its batched sendmmsg/recvmmsg and UDP
// GSO/GRO, under the transport.Bind interface. On the wire it is stock
// WireGuard, so it interoperates with the kernel module and wireguard-go.
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

// Bind is the UDP transport.Bind. Everything but endpoint parsing is
// wireguard-go's StdNetBind.
type Bind struct {
	conn.Bind
}

var _ transport.Bind = (*Bind)(nil)

// New returns a Bind around a fresh conn.StdNetBind.
func New() *Bind { return &Bind{Bind: conn.NewStdNetBind()} }

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

// Owns reports whether ep is a StdNetBind endpoint.
func (b *Bind) Owns(ep conn.Endpoint) bool {
	_, ok := ep.(*conn.StdNetEndpoint)
	return ok
}

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
