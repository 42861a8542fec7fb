// Package failclosed keeps a tunnel's traffic from ever leaving in clear.
//
// A Policy names a TUN interface and the prefixes whose traffic must go
// through it (a remote site's prefixes on a gateway, a laptop's split
// tunnel); a Kernel turns it into state that outlives the process: on
// Linux one nftables table per interface, owned by the process that runs
// the tunnel. The table lets packets to the guarded prefixes leave only
// through the interface and rejects every other way out with an ICMP
// "administratively prohibited" (so the sender gives up at once instead of
// timing out), for forwarded and locally generated packets alike. When the
// tunnel is down, the routes into the interface gone, the daemon stopped,
// killed or restarting, the packets follow the default route and meet the
// table instead of the WAN. With Lockdown, every destination is guarded
// but the Exempt addresses (the tunnel's own peers), loopback, DHCP and
// IPv6 neighbour discovery.
//
// The table goes only when a Policy without guards is applied (the last
// remote left the configuration) or when it is lifted explicitly (Lift,
// `intransit s2s unblock`, a laptop's clean disconnect).
package failclosed

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// TablePrefix starts the name of every table this package installs.
const TablePrefix = "intransit_guard_"

// Guard is a set of prefixes guarded for one reason.
type Guard struct {
	// Name says what the prefixes belong to (a remote gateway's name,
	// "split tunnel"); it is the rules' comment and the status' name.
	Name string
	// Prefixes are the guarded destinations.
	Prefixes []netip.Prefix
}

// Policy is what one interface's table enforces.
type Policy struct {
	// Interface is the TUN interface: the only way out for guarded traffic.
	Interface string
	// Guards are the guarded prefixes, each under its name.
	Guards []Guard
	// Lockdown guards every destination: nothing leaves but through
	// Interface or loopback, to Exempt, DHCP and IPv6 neighbour discovery.
	Lockdown bool
	// Exempt are addresses packets may always reach, guarded or not: the
	// tunnel's own peers, whose packets carry the tunnel.
	Exempt []netip.Addr
}

// Empty reports whether the policy guards nothing, so that no table is
// needed.
func (p Policy) Empty() bool {
	if p.Lockdown {
		return false
	}
	for _, g := range p.Guards {
		if len(g.Prefixes) > 0 {
			return false
		}
	}
	return true
}

var (
	ifaceName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,15}$`)
	guardName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9 ._-]{0,62}$`)
)

// Validate checks what Ruleset quotes into the table: the interface name,
// the guard names (printable, no quotes), the prefixes and addresses.
func (p Policy) Validate() error {
	if !ifaceName.MatchString(p.Interface) {
		return fmt.Errorf("fail-closed policy: interface %q: want 1 to 15 letters, digits, '_', '.' or '-'", p.Interface)
	}
	for i, g := range p.Guards {
		if !guardName.MatchString(g.Name) {
			return fmt.Errorf("fail-closed policy: guard %d: name %q: want letters, digits, ' ', '.', '_' or '-'", i, g.Name)
		}
		for _, pr := range g.Prefixes {
			if !pr.IsValid() || pr.Addr().Zone() != "" {
				return fmt.Errorf("fail-closed policy: guard %s: invalid prefix %s", g.Name, pr)
			}
		}
	}
	for _, a := range p.Exempt {
		if !a.IsValid() || a.Zone() != "" {
			return fmt.Errorf("fail-closed policy: invalid exempt address %s", a)
		}
	}
	return nil
}

// TableName is the table of an interface's policy (family inet).
func TableName(iface string) string {
	return TablePrefix + strings.NewReplacer("-", "_", ".", "_").Replace(iface)
}

// reject is the verdict for guarded packets that would leave another way:
// an ICMP (or ICMPv6) administratively prohibited to the sender.
const reject = "reject with icmpx admin-prohibited"

// Ruleset renders the policy as one nft script that replaces the table
// (creating it first when absent, so that the delete never fails) in a
// single transaction: loaded with `nft -f`, the old rules hold until the
// new ones do. The policy must be valid.
func (p Policy) Ruleset() string {
	table := TableName(p.Interface)
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {}\ndelete table inet %s\ntable inet %s {\n", table, table, table)
	fmt.Fprintf(&b, "\tcomment \"intransit fail-closed guard of %s\"\n", p.Interface)
	for _, hook := range []string{"forward", "output"} {
		fmt.Fprintf(&b, "\tchain %s {\n\t\ttype filter hook %s priority filter; policy accept;\n", hook, hook)
		p.chainBody(&b)
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// chainBody writes the rules both chains share, first match wins: the
// interface, (lockdown: loopback), the exempt peers, (lockdown: DHCP and
// neighbour discovery), then a reject per guard and family, (lockdown: a
// reject for everything).
func (p Policy) chainBody(b *strings.Builder) {
	fmt.Fprintf(b, "\t\toifname %q accept\n", p.Interface)
	if p.Lockdown {
		b.WriteString("\t\toifname \"lo\" accept\n")
	}
	v4, v6 := splitAddrs(p.Exempt)
	if len(v4) > 0 {
		fmt.Fprintf(b, "\t\tip daddr { %s } accept comment \"exempt\"\n", strings.Join(v4, ", "))
	}
	if len(v6) > 0 {
		fmt.Fprintf(b, "\t\tip6 daddr { %s } accept comment \"exempt\"\n", strings.Join(v6, ", "))
	}
	if p.Lockdown {
		b.WriteString("\t\tudp sport 68 udp dport 67 accept comment \"dhcp\"\n")
		b.WriteString("\t\tudp sport 546 udp dport 547 accept comment \"dhcpv6\"\n")
		b.WriteString("\t\ticmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } accept comment \"neighbour discovery\"\n")
	}
	for _, g := range p.Guards {
		v4, v6 := splitPrefixes(g.Prefixes)
		if len(v4) > 0 {
			fmt.Fprintf(b, "\t\tip daddr { %s } counter %s comment %q\n", strings.Join(v4, ", "), reject, g.Name)
		}
		if len(v6) > 0 {
			fmt.Fprintf(b, "\t\tip6 daddr { %s } counter %s comment %q\n", strings.Join(v6, ", "), reject, g.Name)
		}
	}
	if p.Lockdown {
		fmt.Fprintf(b, "\t\tcounter %s comment \"lockdown\"\n", reject)
	}
}

// splitPrefixes returns the IPv4 and IPv6 prefixes as strings, masked,
// leaving out those inside another (nft refuses overlapping intervals in an
// anonymous set).
func splitPrefixes(ps []netip.Prefix) (v4, v6 []string) {
	for i, pr := range ps {
		if coveredByOther(ps, i) {
			continue
		}
		s := pr.Masked().String()
		if pr.Addr().Is4() {
			v4 = append(v4, s)
		} else {
			v6 = append(v6, s)
		}
	}
	return v4, v6
}

// coveredByOther reports whether another prefix of ps contains ps[i]
// (for equal prefixes, the first one stands).
func coveredByOther(ps []netip.Prefix, i int) bool {
	pr := ps[i].Masked()
	for j, q := range ps {
		q = q.Masked()
		switch {
		case j == i || q.Bits() > pr.Bits() || !q.Contains(pr.Addr()):
		case q.Bits() < pr.Bits() || j < i:
			return true
		}
	}
	return false
}

// splitAddrs returns the IPv4 and IPv6 addresses as strings, without
// duplicates.
func splitAddrs(as []netip.Addr) (v4, v6 []string) {
	for _, a := range as {
		a = a.Unmap()
		s := a.String()
		if a.Is4() {
			if !slices.Contains(v4, s) {
				v4 = append(v4, s)
			}
		} else if !slices.Contains(v6, s) {
			v6 = append(v6, s)
		}
	}
	return v4, v6
}

// ErrNotLinux is returned where the platform has no nftables.
var ErrNotLinux = errors.New("fail-closed blocks need Linux nftables")
