// Package registry is the one table of the tunnel's transports. The
// configuration (keys, name checks, port classification), the gateways'
// listeners (multi.Listen), the laptop client, metric labels and the test
// tools iterate over it instead of naming transports, so that a new
// transport is its own package (implementing transport.Bind and returning
// its transport.Info) plus one line in All.
//
// The table is built by All on every call from the transports' Info
// functions: there is no package-level state to register into.
package registry

import (
	"fmt"
	"strings"

	"intransit/tunnel/transport"
	"intransit/tunnel/transport/quic"
	"intransit/tunnel/transport/tls"
	"intransit/tunnel/transport/udp"
)

// All returns every transport, in the order a gateway lists them and a
// client prefers them: udp (fastest, stock WireGuard), quic (UDP 443), tls
// (TCP 443, passes networks that let only HTTPS through).
func All() []transport.Info {
	return []transport.Info{udp.Info(), quic.Info(), tls.Info()}
}

// Names returns the names of All, in order.
func Names() []string {
	all := All()
	out := make([]string, len(all))
	for i, t := range all {
		out[i] = t.Name
	}
	return out
}

// Lookup returns the transport called name, or an error that lists the
// known ones.
func Lookup(name string) (transport.Info, error) {
	for _, t := range All() {
		if t.Name == name {
			return t, nil
		}
	}
	return transport.Info{}, fmt.Errorf("unknown transport %q (want %s)", name, strings.Join(Names(), ", "))
}

// New builds a Bind of the transport called name.
func New(name string, opts transport.Options) (transport.Bind, error) {
	t, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	b, err := t.New(opts)
	if err != nil {
		return nil, fmt.Errorf("%s transport: %w", name, err)
	}
	return b, nil
}

// CheckPathMTU refuses a path MTU below transport.MinPathMTU, saying why
// and what to do.
func CheckPathMTU(pathMTU int) error {
	if pathMTU < transport.MinPathMTU {
		return fmt.Errorf("path MTU %d is below %d, the smallest the transports support: QUIC needs 1200-byte UDP payloads "+
			"and nothing here may depend on fragmentation or ICMP; carry the tunnel over a path of at least %d bytes "+
			"(raise the MTU of the WAN link or of the tunnel it runs inside)", pathMTU, transport.MinPathMTU, transport.MinPathMTU)
	}
	return nil
}

// InnerMTU returns the TUN MTU for the transport called name over a path
// of MTU pathMTU (see the transport package's documentation).
func InnerMTU(name string, pathMTU int) (int, error) {
	t, err := Lookup(name)
	if err != nil {
		return 0, fmt.Errorf("inner MTU: %w", err)
	}
	if err := CheckPathMTU(pathMTU); err != nil {
		return 0, fmt.Errorf("inner MTU for %s: %w", name, err)
	}
	return t.InnerMTU(pathMTU), nil
}

// FallbackMTU returns the inner MTU for a peer that may use any of names:
// the smallest of their InnerMTU, so that changing transport never needs a
// change of MTU.
func FallbackMTU(names []string, pathMTU int) (int, error) {
	if len(names) == 0 {
		return 0, fmt.Errorf("fallback MTU: no transports given")
	}
	best := 0
	for _, n := range names {
		m, err := InnerMTU(n, pathMTU)
		if err != nil {
			return 0, err
		}
		if best == 0 || m < best {
			best = m
		}
	}
	return best, nil
}

// IPv6Error explains why IPv6 cannot cross a tunnel of inner MTU mtu over
// a path of MTU pathMTU, and what to do; nil when it can.
func IPv6Error(mtu, pathMTU int) error {
	if mtu >= transport.MinIPv6MTU {
		return nil
	}
	return fmt.Errorf("the inner MTU is %d over a path MTU of %d, below the %d that IPv6 requires (RFC 8200), so IPv6 cannot cross the tunnel: "+
		"remove the IPv6 prefixes, or carry the tunnel over a path MTU of at least %d",
		mtu, pathMTU, transport.MinIPv6MTU, pathMTU+transport.MinIPv6MTU-mtu)
}
