package netlab

import (
	"fmt"
	"strconv"
	"strings"
)

// Rule is a set of nftables rules the lab installed in a host (one table);
// Remove takes it out again. Rules also disappear with the lab.
type Rule struct {
	host   *Host
	family string
	table  string
}

// Remove deletes the rule's table from its host.
func (r *Rule) Remove() {
	r.host.lab.t.Helper()
	r.host.MustRun("nft", "delete", "table", r.family, r.table)
}

// nft loads an nftables script into the host.
func (h *Host) nft(script string) {
	h.lab.t.Helper()
	ctx, cancel := contextWithTimeout()
	defer cancel()
	cmd := h.Command(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		h.lab.t.Fatalf("netlab: nft on host %s: %v: %s\nscript:\n%s", h.name, err, out, script)
	}
}

// Loss drops the given percentage (0-100) of the packets arriving on the
// interface, at random (nftables "numgen random", in the netdev ingress hook,
// so it hits forwarded and local traffic alike). For loss in both directions
// call it on both ends of a link.
func (i *Iface) Loss(percent int) *Rule {
	i.host.lab.t.Helper()
	if percent < 0 || percent > 100 {
		i.host.lab.t.Fatalf("netlab: loss of %d%% on %s: want 0..100", percent, i.name)
	}
	stmt := fmt.Sprintf("numgen random mod 100 < %d drop", percent)
	if percent == 100 {
		stmt = "drop"
	}
	table := i.host.nextRuleName()
	i.host.nft(fmt.Sprintf(`table netdev %s {
	chain loss {
		type filter hook ingress device %q priority 0; policy accept;
		%s
	}
}
`, table, i.name, stmt))
	return &Rule{host: i.host, family: "netdev", table: table}
}

// RateLimit shapes the traffic leaving the interface to rate (tc syntax:
// "10mbit", "512kbit") with a token bucket filter (tbf): bursts of up to
// 64 KiB pass at once and packets wait up to 100 ms in the queue before
// being dropped. It replaces any earlier limit on the interface.
func (i *Iface) RateLimit(rate string) {
	i.host.lab.t.Helper()
	i.host.MustRun("tc", "qdisc", "replace", "dev", i.name, "root", "tbf", "rate", rate, "burst", "64kb", "latency", "100ms")
}

// ClearRateLimit removes a RateLimit from the interface.
func (i *Iface) ClearRateLimit() {
	i.host.lab.t.Helper()
	i.host.MustRun("tc", "qdisc", "del", "dev", i.name, "root")
}

// DropPacketTooBig drops ICMP "fragmentation needed" and ICMPv6 "packet too
// big" messages passing through, arriving at or leaving the host: a path-MTU
// black hole, as on networks with careless firewalls.
func (h *Host) DropPacketTooBig() *Rule {
	h.lab.t.Helper()
	return h.filter(`icmp type destination-unreachable icmp code frag-needed drop
		icmpv6 type packet-too-big drop`)
}

// Block drops every packet of the transport protocol proto ("udp", "tcp",
// "icmp", "icmpv6", or any name nftables knows) to or from port (both
// directions), or every packet of the protocol when port is 0, in the host's
// input, forward and output paths. A host that routes between two others
// blocks their traffic this way, like a firewall that passes only some
// protocols.
func (h *Host) Block(proto string, port int) *Rule {
	h.lab.t.Helper()
	if port < 0 || port > 65535 {
		h.lab.t.Fatalf("netlab: block %s port %d: port out of range", proto, port)
	}
	if port == 0 {
		return h.filter("meta l4proto " + proto + " drop")
	}
	p := strconv.Itoa(port)
	return h.filter("meta l4proto " + proto + " th dport " + p + " drop\n\t\tmeta l4proto " + proto + " th sport " + p + " drop")
}

// filter installs rules (nftables statements, one per line) in the input,
// forward and output hooks of a new inet table of h.
func (h *Host) filter(rules string) *Rule {
	h.lab.t.Helper()
	table := h.nextRuleName()
	script := "table inet " + table + " {\n"
	for _, hook := range []string{"input", "forward", "output"} {
		script += fmt.Sprintf("\tchain %s {\n\t\ttype filter hook %s priority -10; policy accept;\n\t\t%s\n\t}\n", hook, hook, rules)
	}
	script += "}\n"
	h.nft(script)
	return &Rule{host: h, family: "inet", table: table}
}

// Drop drops every packet that matches match (an nftables match
// expression, such as "ip saddr 192.0.2.1 ip daddr 198.51.100.2 udp dport
// 51820"), in the host's input, forward and output paths: a block in one
// direction of one flow, where Block cuts a port both ways.
func (h *Host) Drop(match string) *Rule {
	h.lab.t.Helper()
	return h.filter(match + " drop")
}
