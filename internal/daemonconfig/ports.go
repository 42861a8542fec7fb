package daemonconfig

import (
	"net/netip"
	"strings"

	"intransit/tunnel/transport"
)

// listener is one socket the daemon binds.
type listener struct {
	field   []any
	line    int
	network string // transport.NetworkTCP or NetworkUDP
	addr    netip.AddrPort
	// anyAddr is set for the gateways' listeners: one port is theirs on
	// every address (the data-plane transports listen on every address
	// whatever the address written, which is advertised).
	anyAddr bool
}

// clashes reports whether a and b cannot both be bound.
func (a listener) clashes(b listener) bool {
	if a.network != b.network || a.addr.Port() != b.addr.Port() {
		return false
	}
	if a.anyAddr || b.anyAddr || a.addr.Addr().IsUnspecified() || b.addr.Addr().IsUnspecified() {
		return true
	}
	return a.addr.Addr() == b.addr.Addr()
}

// listeners returns every socket the configuration binds, in the order of
// the sections: site-to-site, point-to-site, console, metrics. The
// gateways' ports are taken on every address; the console and metrics
// listeners clash with each other only on one address.
func listeners(c *Config) []listener {
	var out []listener
	add := func(network string, ep Endpoint, anyAddr bool, field ...any) {
		if ep.IsValid() {
			out = append(out, listener{field: field, line: ep.Line, network: network, addr: ep.AddrPort, anyAddr: anyAddr})
		}
	}
	gateway := func(l Listen, prefix ...any) {
		add(transport.NetworkTCP, l.Control, true, append(clonePath(prefix), "listen", "control")...)
		for _, t := range l.Transports() {
			add(t.Network, l.Data[t.Name], true, append(clonePath(prefix), "listen", t.Name)...)
		}
	}
	gateway(c.Listen)
	if p := c.P2S; p != nil {
		gateway(p.Listen, "p2s")
		add(transport.NetworkTCP, p.Enroll, true, "p2s", "enroll")
		add(transport.NetworkTCP, p.Renew, true, "p2s", "renew")
		add(transport.NetworkTCP, p.PKI.Renew, true, "p2s", "pki", "renew")
	}
	if c.PKI != nil {
		add(transport.NetworkTCP, c.PKI.Renew, true, "pki", "renew")
	}
	if c.Console != nil {
		add(transport.NetworkTCP, c.Console.Listen, false, "console", "listen")
	}
	if ap, err := netip.ParseAddrPort(c.MetricsListen); err == nil {
		add(transport.NetworkTCP, Endpoint{AddrPort: ap}, false, "metrics_listen")
	}
	return out
}

// ports refuses two listeners on one port of one protocol (TCP or UDP)
// where their addresses meet: the second could not bind. Each clash is
// reported once, at the later listener.
func (v *validator) ports(c *Config) {
	ls := listeners(c)
	for i, l := range ls {
		for _, o := range ls[:i] {
			if !l.clashes(o) {
				continue
			}
			v.fail(l.line, l.field, "%s port %d is also %s: give each listener its own port", strings.ToUpper(l.network), l.addr.Port(), fieldName(o.field))
			break
		}
	}
}
