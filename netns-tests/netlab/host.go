package netlab

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
)

// Host is one network namespace of a Lab: a machine of the topology.
type Host struct {
	lab  *Lab
	name string
	ns   string

	mu      sync.Mutex
	nIfaces int
	nRules  int
}

// Name returns the host's name inside the lab.
func (h *Host) Name() string { return h.name }

// Namespace returns the name of the host's network namespace (as listed by
// "ip netns list"; usable with "ip netns exec").
func (h *Host) Namespace() string { return h.ns }

// Command returns an unstarted command that runs name with args inside the
// host; the caller wires its standard streams and runs it. ctx kills it.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.ns, name}, args...)...)
}

// Run runs name with args inside the host and returns its combined output.
// The error names the command, the host and quotes the output.
func (h *Host) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := h.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("on host %s: %s %s: %w: %s", h.name, name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// MustRun runs name with args inside the host, bounded by a generous
// timeout, and fails the test if it does not succeed. It returns the output.
func (h *Host) MustRun(name string, args ...string) string {
	h.lab.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, err := h.Run(ctx, name, args...)
	if err != nil {
		h.lab.t.Fatalf("netlab: %v", err)
	}
	return string(out)
}

// nextIfaceName returns the next free "ethN" name of the host.
func (h *Host) nextIfaceName() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := fmt.Sprintf("eth%d", h.nIfaces)
	h.nIfaces++
	return n
}

// nextRuleName returns a fresh nftables table name for the host.
func (h *Host) nextRuleName() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nRules++
	return fmt.Sprintf("netlab%d", h.nRules)
}

// Iface returns the interface called name inside the host (for example a
// TUN device a tunnel process created) so that it can be impaired or captured.
func (h *Host) Iface(name string) *Iface { return &Iface{host: h, name: name} }

// AddRoute adds a route to dst (a prefix such as "10.2.0.0/16" or
// "2001:db8:2::/48", or "default" for the IPv4 default route; the IPv6
// default is "::/0") via the gateway address via.
func (h *Host) AddRoute(dst, via string) {
	h.lab.t.Helper()
	args := []string{"route", "add", dst, "via", via}
	if p, err := netip.ParsePrefix(dst); err == nil && p.Addr().Is6() {
		args = append([]string{"-6"}, args...)
	} else if a, err := netip.ParseAddr(via); err == nil && a.Is6() {
		args = append([]string{"-6"}, args...)
	}
	h.MustRun("ip", args...)
}

// EnableForwarding turns the host into a router for IPv4 and IPv6.
func (h *Host) EnableForwarding() {
	h.lab.t.Helper()
	// /proc/sys/net belongs to the namespace of the process that opens it.
	h.MustRun("sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward && echo 1 > /proc/sys/net/ipv6/conf/all/forwarding")
}

// Masquerade makes the host a NAT router: forwarding on, and IPv4 traffic
// leaving through out gets the source address of out (iptables MASQUERADE).
// Hosts behind it then reach the far side while nothing there can reach them
// first, like a laptop on a home or hotel network.
func (h *Host) Masquerade(out *Iface) {
	h.lab.t.Helper()
	RequireTools(h.lab.t, "iptables")
	h.EnableForwarding()
	h.MustRun("iptables", "-t", "nat", "-A", "POSTROUTING", "-o", out.name, "-j", "MASQUERADE")
}
