package s2s

import (
	"context"
	"fmt"
	"strings"

	"intransit/internal/nftables"
)

// The IP and TCP headers around a segment, in bytes.
const (
	innerV4 = 20 + 20
	innerV6 = 40 + 20
)

// mssClamp is the nftables table that clamps TCP MSS in the gateway's
// network namespace.
type mssClamp struct {
	table string
}

// clampValues returns the MSS for IPv4 and IPv6 TCP inside the tunnel so
// that a full segment fits the interface's MTU innerMTU (which the
// transports derive from the path MTU), and for the gateway's own TCP
// (control channel, tls transport) on the WAN so that it fits pathMTU.
func clampValues(pathMTU, innerMTU int) (tun4, tun6, wan4, wan6 int) {
	return innerMTU - innerV4, innerMTU - innerV6, pathMTU - innerV4, pathMTU - innerV6
}

// installMSSClamp creates the table: SYN segments forwarded into or out of
// iface, or sent by this host into it, get their MSS lowered to fit the
// interface MTU innerMTU, and the SYNs of the gateway's own TCP connections
// on other interfaces but loopback (the control channel and the tls
// transport cross the same WAN) to fit pathMTU. A table left by an earlier
// run is replaced.
func installMSSClamp(ctx context.Context, iface string, pathMTU, innerMTU int) (*mssClamp, error) {
	m := &mssClamp{table: "intransit_" + strings.NewReplacer("-", "_", ".", "_").Replace(iface)}
	tun4, tun6, wan4, wan6 := clampValues(pathMTU, innerMTU)
	syn := "tcp flags & (syn|rst) == syn"
	clamp := func(nf, dir string, mss int) string {
		return fmt.Sprintf("\t\tmeta nfproto %s %s %s tcp option maxseg size > %d tcp option maxseg size set %d\n", nf, dir, syn, mss, mss)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {}\ndelete table inet %s\ntable inet %s {\n", m.table, m.table, m.table)
	b.WriteString("\tchain forward {\n\t\ttype filter hook forward priority mangle; policy accept;\n")
	for _, dir := range []string{fmt.Sprintf("oifname %q", iface), fmt.Sprintf("iifname %q", iface)} {
		b.WriteString(clamp("ipv4", dir, tun4))
		b.WriteString(clamp("ipv6", dir, tun6))
	}
	b.WriteString("\t}\n\tchain output {\n\t\ttype filter hook output priority mangle; policy accept;\n")
	b.WriteString(clamp("ipv4", fmt.Sprintf("oifname %q", iface), tun4))
	b.WriteString(clamp("ipv6", fmt.Sprintf("oifname %q", iface), tun6))
	// Loopback is no WAN: local TCP keeps its large segments.
	wan := fmt.Sprintf("oifname != { %q, \"lo\" }", iface)
	b.WriteString(clamp("ipv4", wan, wan4))
	b.WriteString(clamp("ipv6", wan, wan6))
	b.WriteString("\t}\n}\n")
	if err := nftables.Apply(ctx, b.String()); err != nil {
		return nil, fmt.Errorf("MSS clamp: %w", err)
	}
	return m, nil
}

// remove deletes the table.
func (m *mssClamp) remove() { nftables.DeleteTable(m.table) }
