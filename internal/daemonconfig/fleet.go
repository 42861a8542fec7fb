package daemonconfig

import (
	"net/netip"
	"regexp"
	"slices"
)

// P2SFleet is what several gateways that serve the same clients from one
// etcd store need of the p2s section.
type P2SFleet struct {
	// Gateways are the hosts (names or addresses, as in the gateways'
	// certificates) of every gateway that serves these clients with the
	// same ports; enrolling clients are told them all, so that they move
	// to another when theirs is gone. It needs store.backend etcd.
	Gateways []string `yaml:"gateways"`
	// Announce is the site LAN's interface, on which this gateway answers
	// ARP for the addresses of the clients whose sessions it holds (the
	// site routes the pools onto the LAN); empty announces nothing.
	Announce string `yaml:"announce"`
}

// hostName is a DNS name.
var hostName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$`)

// p2sFleet validates the fleet fields of the p2s section.
func (v *validator) p2sFleet(c *Config, at func(...any) []any) {
	p := c.P2S
	if len(p.Gateways) > 0 && c.Store.Backend != StoreEtcd {
		v.fail(0, at("gateways"), "gateways share their clients through the store: needs store.backend %s", StoreEtcd)
	}
	for i, g := range p.Gateways {
		_, err := netip.ParseAddr(g)
		switch {
		case err != nil && !hostName.MatchString(g):
			v.fail(0, at("gateways", i), "%q: want a host name or an address, without a port", g)
		case slices.Contains(p.Gateways[:i], g):
			v.fail(0, at("gateways", i), "%q is listed twice", g)
		}
	}
	if p.Announce != "" && !ifaceName.MatchString(p.Announce) {
		v.fail(0, at("announce"), "%q: want 1 to 15 letters, digits, '.', '_' or '-'", p.Announce)
	}
}
