package netlab

import (
	"net/netip"
	"strconv"
)

// Iface is a network interface inside a host.
type Iface struct {
	host *Host
	name string
}

// Host returns the host the interface is in.
func (i *Iface) Host() *Host { return i.host }

// Name returns the interface name inside its host.
func (i *Iface) Name() string { return i.name }

// Link is a veth pair: A in one host, B in the other, both up.
type Link struct {
	A, B *Iface
}

// Link connects hosts a and b with a veth pair. The ends are named after the
// next free "ethN" of each host and are up, without addresses.
func (l *Lab) Link(a, b *Host) *Link {
	l.t.Helper()
	an, bn := a.nextIfaceName(), b.nextIfaceName()
	l.mustCmd("ip", "link", "add", an, "netns", a.ns, "type", "veth", "peer", "name", bn, "netns", b.ns)
	a.MustRun("ip", "link", "set", an, "up")
	b.MustRun("ip", "link", "set", bn, "up")
	return &Link{A: &Iface{host: a, name: an}, B: &Iface{host: b, name: bn}}
}

// Switch is a layer-2 segment: a bridge in a namespace of its own, to which
// hosts attach with veth pairs. Use it for a LAN of several hosts.
type Switch struct {
	lab  *Lab
	host *Host
}

// Switch creates a switch called name (a host of the lab holding bridge br0).
func (l *Lab) Switch(name string) *Switch {
	l.t.Helper()
	h := l.Host(name)
	h.MustRun("ip", "link", "add", "br0", "type", "bridge")
	h.MustRun("ip", "link", "set", "br0", "up")
	return &Switch{lab: l, host: h}
}

// Host returns the namespace that holds the switch's bridge.
func (s *Switch) Host() *Host { return s.host }

// Attach connects h to the switch and returns h's end of the link.
func (s *Switch) Attach(h *Host) *Iface {
	s.lab.t.Helper()
	link := s.lab.Link(s.host, h)
	s.host.MustRun("ip", "link", "set", link.A.name, "master", "br0")
	return link.B
}

// AddAddr assigns an address with its prefix length ("192.0.2.1/24",
// "2001:db8::1/64"). IPv6 addresses skip duplicate address detection so that
// they are usable at once.
func (i *Iface) AddAddr(prefix string) {
	i.host.lab.t.Helper()
	p, err := netip.ParsePrefix(prefix)
	if err != nil {
		i.host.lab.t.Fatalf("netlab: address %q for %s on %s: %v", prefix, i.name, i.host.name, err)
	}
	args := []string{"addr", "add", p.String(), "dev", i.name}
	if p.Addr().Is6() {
		args = append([]string{"-6"}, args...)
		args = append(args, "nodad")
	}
	i.host.MustRun("ip", args...)
}

// SetMTU changes the interface's MTU.
func (i *Iface) SetMTU(mtu int) {
	i.host.lab.t.Helper()
	i.host.MustRun("ip", "link", "set", "dev", i.name, "mtu", strconv.Itoa(mtu))
}

// SetUp brings the interface up (true) or down (false): a cable pulled and
// plugged back.
func (i *Iface) SetUp(up bool) {
	i.host.lab.t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	i.host.MustRun("ip", "link", "set", "dev", i.name, state)
}
