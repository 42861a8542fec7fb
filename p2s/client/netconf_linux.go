package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"

	"intransit/internal/atomicfile"
)

// DNS modes.
const (
	DNSAuto       = "auto"        // resolvectl when systemd-resolved runs, else resolv.conf
	DNSResolvectl = "resolvectl"  // per-link DNS through systemd-resolved
	DNSResolvConf = "resolv.conf" // replace resolv.conf, keeping the original aside
	DNSOff        = "off"         // leave DNS alone
)

// StateFile in the profile directory records what a running client changed
// on the system, so that the next start (or `intransit p2s disconnect`)
// restores it after a crash.
const StateFile = "applied.json"

// applied is what the client changed outside its TUN interface. Routes
// into the TUN interface go away with it; a pinned route to the gateway
// and DNS do not.
type applied struct {
	// ResolvConf is the resolv.conf replaced and Backup where the original
	// (file or symlink) was moved.
	ResolvConf string `json:"resolv_conf,omitempty"`
	Backup     string `json:"backup,omitempty"`
	// Resolvectl is the interface whose per-link DNS was set.
	Resolvectl string `json:"resolvectl,omitempty"`
	// Pinned are host routes to the gateway through the original path,
	// added for a full tunnel.
	Pinned []pinned `json:"pinned,omitempty"`
}

// pinned is a host route to the gateway outside the tunnel.
type pinned struct {
	Dst       netip.Addr `json:"dst"`
	Gw        netip.Addr `json:"gw,omitzero"`
	LinkIndex int        `json:"link_index"`
}

func (p pinned) route() *netlink.Route {
	r := &netlink.Route{Dst: &net.IPNet{IP: p.Dst.AsSlice(), Mask: net.CIDRMask(p.Dst.BitLen(), p.Dst.BitLen())}, LinkIndex: p.LinkIndex}
	if p.Gw.IsValid() {
		r.Gw = p.Gw.AsSlice()
	}
	return r
}

// netconf applies and restores routes and DNS for one profile.
type netconf struct {
	stateFile  string
	dnsMode    string
	resolvConf string
	iface      string

	cur    applied
	routes []netip.Prefix // routes installed into the TUN interface
}

// restoreLeftovers undoes what a client that died without cleaning up had
// applied, as recorded in the state file.
func (n *netconf) restoreLeftovers(ctx context.Context) error {
	data, err := os.ReadFile(n.stateFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	var a applied
	if err := json.Unmarshal(data, &a); err != nil {
		return fmt.Errorf("restore: %s is damaged: %w", n.stateFile, err)
	}
	n.cur = a
	return n.restore(ctx)
}

// save records n.cur durably before (and after) a change.
func (n *netconf) save() error {
	data, err := json.Marshal(n.cur)
	if err != nil {
		return err
	}
	return atomicfile.Write(n.stateFile, data, 0o600)
}

// apply makes the TUN interface carry routes and sets DNS. gateway is the
// gateway's underlay address: when a route covers it, a host route through
// the current path keeps the tunnel's own packets out of the tunnel.
func (n *netconf) apply(ctx context.Context, routes []netip.Prefix, gateway netip.Addr, servers []netip.Addr, domains []string, full bool) error {
	link, err := netlink.LinkByName(n.iface)
	if err != nil {
		return fmt.Errorf("interface %s: %w", n.iface, err)
	}
	var want []netip.Prefix
	for _, r := range routes {
		want = append(want, splitDefault(r)...)
	}
	covers := false
	for _, r := range want {
		if gateway.IsValid() && r.Contains(gateway) {
			covers = true
		}
	}
	if covers && len(n.cur.Pinned) == 0 {
		if err := n.pin(gateway); err != nil {
			return err
		}
	}
	for _, p := range n.routes {
		if !containsPrefix(want, p) {
			if err := netlink.RouteDel(tunRoute(link, p)); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("route %s: %w", p, err)
			}
		}
	}
	for _, p := range want {
		if err := netlink.RouteReplace(tunRoute(link, p)); err != nil {
			return fmt.Errorf("route %s via %s: %w", p, n.iface, err)
		}
	}
	n.routes = want
	return n.applyDNS(ctx, servers, domains, full)
}

// splitDefault replaces a default route by its two halves, which win over
// the system's default route without replacing it.
func splitDefault(p netip.Prefix) []netip.Prefix {
	if p.Bits() != 0 {
		return []netip.Prefix{p}
	}
	if p.Addr().Is4() {
		return []netip.Prefix{netip.MustParsePrefix("0.0.0.0/1"), netip.MustParsePrefix("128.0.0.0/1")}
	}
	return []netip.Prefix{netip.MustParsePrefix("::/1"), netip.MustParsePrefix("8000::/1")}
}

func containsPrefix(ps []netip.Prefix, p netip.Prefix) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

func tunRoute(link netlink.Link, p netip.Prefix) *netlink.Route {
	return &netlink.Route{LinkIndex: link.Attrs().Index, Scope: netlink.SCOPE_LINK,
		Dst: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
}

// pin adds a host route to the gateway through the path it has now.
func (n *netconf) pin(gateway netip.Addr) error {
	rs, err := netlink.RouteGet(gateway.AsSlice())
	if err != nil || len(rs) == 0 {
		return fmt.Errorf("route to the gateway %s: %v", gateway, err)
	}
	p := pinned{Dst: gateway, LinkIndex: rs[0].LinkIndex}
	if rs[0].Gw != nil {
		p.Gw, _ = netip.AddrFromSlice(rs[0].Gw)
		p.Gw = p.Gw.Unmap()
	}
	n.cur.Pinned = append(n.cur.Pinned, p)
	if err := n.save(); err != nil {
		return err
	}
	if err := netlink.RouteReplace(p.route()); err != nil {
		return fmt.Errorf("host route to the gateway %s: %w", gateway, err)
	}
	return nil
}

// applyDNS points the resolver at the tunnel's DNS servers.
func (n *netconf) applyDNS(ctx context.Context, servers []netip.Addr, domains []string, full bool) error {
	if len(servers) == 0 || n.dnsMode == DNSOff {
		return nil
	}
	mode := n.dnsMode
	if mode == DNSAuto {
		mode = DNSResolvConf
		if _, err := exec.LookPath("resolvectl"); err == nil {
			if _, err := os.Stat("/run/systemd/resolve/io.systemd.Resolve"); err == nil {
				mode = DNSResolvectl
			}
		}
	}
	if mode == DNSResolvectl {
		n.cur.Resolvectl = n.iface
		if err := n.save(); err != nil {
			return err
		}
		args := []string{"dns", n.iface}
		for _, s := range servers {
			args = append(args, s.String())
		}
		if err := run(ctx, "resolvectl", args...); err != nil {
			return err
		}
		dargs := append([]string{"domain", n.iface}, domains...)
		if full {
			dargs = append(dargs, "~.")
		}
		return run(ctx, "resolvectl", dargs...)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by intransit p2s while connected; the original is restored on disconnect.\n")
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(domains) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(domains, " "))
	}
	if n.cur.ResolvConf == "" {
		backup := n.resolvConf + ".intransit-backup"
		if _, err := os.Lstat(backup); err == nil {
			return fmt.Errorf("DNS: %s exists: another client has replaced %s (or left it replaced); run intransit p2s disconnect", backup, n.resolvConf)
		}
		n.cur.ResolvConf, n.cur.Backup = n.resolvConf, backup
		if err := n.save(); err != nil {
			return err
		}
		if err := atomicfile.Rename(n.resolvConf, backup); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("DNS: keep the original %s: %w", n.resolvConf, err)
		}
	}
	return atomicfile.Write(n.resolvConf, []byte(b.String()), 0o644)
}

// restore undoes everything applied and removes the state file.
func (n *netconf) restore(ctx context.Context) error {
	var errs []error
	if n.cur.ResolvConf != "" {
		if _, err := os.Lstat(n.cur.Backup); err == nil {
			if err := atomicfile.Rename(n.cur.Backup, n.cur.ResolvConf); err != nil {
				errs = append(errs, fmt.Errorf("restore %s: %w", n.cur.ResolvConf, err))
			}
		} else if err := os.Remove(n.cur.ResolvConf); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("restore %s (there was none): %w", n.cur.ResolvConf, err))
		}
	}
	if n.cur.Resolvectl != "" {
		if _, err := net.InterfaceByName(n.cur.Resolvectl); err == nil {
			if err := run(ctx, "resolvectl", "revert", n.cur.Resolvectl); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, p := range n.cur.Pinned {
		if err := netlink.RouteDel(p.route()); err != nil && !errors.Is(err, syscall.ESRCH) && !errors.Is(err, syscall.ENODEV) {
			errs = append(errs, fmt.Errorf("remove host route to %s: %w", p.Dst, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	n.cur, n.routes = applied{}, nil
	if err := os.Remove(n.stateFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// stateFileIn is the state file of a profile directory.
func stateFileIn(dir string) string { return filepath.Join(dir, StateFile) }
