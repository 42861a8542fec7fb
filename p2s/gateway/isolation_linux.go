package gateway

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"intransit/internal/nftables"
)

// isolation is the nftables table that keeps clients apart: traffic that
// enters and leaves the tunnel interface is dropped unless both ends are
// members of one group that allows client-to-client traffic.
type isolation struct {
	table string
}

func setName(group string, family int) string {
	return fmt.Sprintf("g_%s_%d", strings.ReplaceAll(group, "-", "_"), family)
}

// installIsolation creates the table (replacing one left by an earlier
// run) with one address set per family for each group that allows
// client-to-client traffic.
func installIsolation(ctx context.Context, iface string, groups []Group) (*isolation, error) {
	t := &isolation{table: "intransit_p2s_" + strings.NewReplacer("-", "_", ".", "_").Replace(iface)}
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {}\ndelete table inet %s\ntable inet %s {\n", t.table, t.table, t.table)
	for _, gr := range groups {
		if gr.ClientToClient {
			fmt.Fprintf(&b, "\tset %s { type ipv4_addr; }\n\tset %s { type ipv6_addr; }\n", setName(gr.Name, 4), setName(gr.Name, 6))
		}
	}
	fmt.Fprintf(&b, "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n")
	same := fmt.Sprintf("iifname %q oifname %q", iface, iface)
	for _, gr := range groups {
		if gr.ClientToClient {
			fmt.Fprintf(&b, "\t\t%s ip saddr @%s ip daddr @%s accept\n", same, setName(gr.Name, 4), setName(gr.Name, 4))
			fmt.Fprintf(&b, "\t\t%s ip6 saddr @%s ip6 daddr @%s accept\n", same, setName(gr.Name, 6), setName(gr.Name, 6))
		}
	}
	fmt.Fprintf(&b, "\t\t%s counter drop\n\t}\n}\n", same)
	if err := nftables.Apply(ctx, b.String()); err != nil {
		return nil, fmt.Errorf("client isolation: %w", err)
	}
	return t, nil
}

// add puts a member's addresses into its group's sets.
func (t *isolation) add(ctx context.Context, gr Group, addrs []netip.Addr) error {
	return t.elements(ctx, "add", gr, addrs)
}

// del takes them out.
func (t *isolation) del(ctx context.Context, gr Group, addrs []netip.Addr) error {
	return t.elements(ctx, "delete", gr, addrs)
}

func (t *isolation) elements(ctx context.Context, op string, gr Group, addrs []netip.Addr) error {
	if !gr.ClientToClient || len(addrs) == 0 {
		return nil
	}
	var b strings.Builder
	for _, a := range addrs {
		fam := 6
		if a.Is4() {
			fam = 4
		}
		fmt.Fprintf(&b, "%s element inet %s %s { %s }\n", op, t.table, setName(gr.Name, fam), a)
	}
	return nftables.Apply(ctx, b.String())
}

// remove deletes the table.
func (t *isolation) remove() { nftables.DeleteTable(t.table) }
