package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"intransit/internal/gatewaycore"
	"intransit/p2s"
	"intransit/pki"
	"intransit/tunnel"
	"intransit/tunnel/control"
	"intransit/tunnel/transport"
)

// staticLease is the pool's lease name of a static device; the prefix
// keeps static devices apart from enrolled clients of the same name.
func staticLease(name string) string { return p2s.StaticLeasePrefix + name }

// StaticProfile is a freshly exported static WireGuard profile. It holds
// the device's private key, which the gateway does not keep: show it once.
type StaticProfile struct {
	// Name and Group are the device's name and policy group.
	Name, Group string
	// PrivateKey is the device's WireGuard key (not kept by the gateway)
	// and PresharedKey the fixed PSK.
	PrivateKey   tunnel.PrivateKey
	PresharedKey tunnel.PresharedKey
	// Addresses are the device's tunnel addresses, DNSServers and Routes
	// its group's.
	Addresses  []netip.Addr
	DNSServers []netip.Addr
	Routes     []netip.Prefix
	// GatewayKey is the gateway's WireGuard public key.
	GatewayKey tunnel.PublicKey
	// Endpoint is the gateway's UDP endpoint, host:port.
	Endpoint string
}

// staticPeer is the device's peer on the gateway.
func (g *Gateway) staticPeer(st p2s.Static) tunnel.PeerConfig {
	psk := tunnel.PresharedKey(st.PresharedKey)
	var allowed []netip.Prefix
	for _, a := range st.Addresses {
		allowed = append(allowed, netip.PrefixFrom(a, a.BitLen()))
	}
	return tunnel.PeerConfig{PublicKey: tunnel.PublicKey(st.PublicKey), PresharedKey: &psk, AllowedIPs: allowed}
}

// loadStatics installs the static devices kept in the store.
func (g *Gateway) loadStatics(ctx context.Context) error {
	sts, err := g.opts.Store.Statics(ctx)
	if err != nil {
		return fmt.Errorf("static devices: %w", err)
	}
	for _, st := range sts {
		gr, ok := g.group(st.Group)
		if !ok {
			g.log.Warn("static device's group is no longer configured; not installed", "device", st.Name, "group", st.Group)
			continue
		}
		owner := gatewaycore.NewOwner("static device " + st.Name)
		if err := g.peers.Set(owner, g.staticPeer(st)); err != nil {
			return fmt.Errorf("static device %s: %w", st.Name, err)
		}
		g.staticOwners[st.Name] = owner
		if err := g.iso.add(ctx, gr, st.Addresses); err != nil {
			return fmt.Errorf("static device %s: %w", st.Name, err)
		}
		g.statics[st.Name] = st
	}
	return nil
}

// AddStatic creates a static device in group: a new WireGuard key pair and
// PSK, a lease, and its peer, kept across restarts. endpoint is the
// gateway's UDP address as the device must dial it (host:port); empty
// takes the configured udp listen address, which must then be specific.
func (g *Gateway) AddStatic(ctx context.Context, name, group, endpoint string) (*StaticProfile, error) {
	if err := pki.CheckName(name); err != nil {
		return nil, fmt.Errorf("device name %w", err)
	}
	gr, ok := g.group(group)
	if !ok {
		return nil, fmt.Errorf("group %q is not configured", group)
	}
	var udp *Listener
	for i := range g.opts.Transports {
		if g.opts.Transports[i].Name == transport.UDP {
			udp = &g.opts.Transports[i]
		}
	}
	if udp == nil {
		return nil, errors.New("the gateway serves no udp transport, which stock WireGuard needs")
	}
	if endpoint == "" {
		if udp.Endpoint.Addr().IsUnspecified() {
			return nil, fmt.Errorf("p2s listen.udp is %s: give the address devices reach the gateway at (--endpoint HOST:PORT)", udp.Endpoint)
		}
		endpoint = udp.Endpoint.String()
	}
	key, err := tunnel.GeneratePrivateKey()
	if err != nil {
		return nil, err
	}
	psk, err := tunnel.GeneratePresharedKey()
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, dup := g.statics[name]; dup {
		return nil, fmt.Errorf("static device %q exists already (remove it first: intransit p2s remove %s)", name, name)
	}
	addrs, err := g.opts.Pool.Acquire(ctx, staticLease(name))
	if err != nil {
		return nil, err
	}
	st := p2s.Static{Name: name, Group: group, PublicKey: [32]byte(key.PublicKey()), PresharedKey: [32]byte(psk), Addresses: addrs, Created: time.Now().UTC()}
	if err := g.opts.Store.PutStatic(ctx, st); err != nil {
		_ = g.opts.Pool.Release(ctx, staticLease(name))
		return nil, err
	}
	owner := gatewaycore.NewOwner("static device " + name)
	if err := g.peers.Set(owner, g.staticPeer(st)); err != nil {
		return nil, err
	}
	g.staticOwners[name] = owner
	if err := g.iso.add(ctx, gr, addrs); err != nil {
		return nil, err
	}
	g.statics[name] = st
	g.log.Info("p2s static device exported", "device", name, "group", group, "addresses", fmt.Sprint(addrs))
	return &StaticProfile{Name: name, Group: group, PrivateKey: key, PresharedKey: psk, Addresses: addrs, DNSServers: gr.DNSServers,
		Routes: gr.routes(g.opts.SitePrefixes), GatewayKey: g.dev.PublicKey(), Endpoint: endpoint}, nil
}

// RemoveStatic revokes a static device: its peer, lease and record go.
func (g *Gateway) RemoveStatic(ctx context.Context, name string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	st, ok := g.statics[name]
	if !ok {
		return fmt.Errorf("static device %q: %w", name, p2s.ErrNotFound)
	}
	if err := g.opts.Store.DeleteStatic(ctx, name); err != nil {
		return err
	}
	delete(g.statics, name)
	owner := g.staticOwners[name]
	delete(g.staticOwners, name)
	if err := g.peers.Release(owner, tunnel.PublicKey(st.PublicKey)); err != nil {
		return err
	}
	if gr, ok := g.group(st.Group); ok {
		if err := g.iso.del(ctx, gr, st.Addresses); err != nil {
			g.log.Error("p2s isolation set update failed", "device", name, "error", err.Error())
		}
	}
	if err := g.opts.Pool.Release(ctx, staticLease(name)); err != nil {
		return err
	}
	g.log.Info("p2s static device removed", "device", name)
	return nil
}

// Forget removes an enrolled client: its session is closed (ReasonRemoved),
// its record and its address lease go, so it cannot connect again and its
// address can be handed out. Revoke its certificate too, so that the CA
// agrees; forgetting is what frees the address.
func (g *Gateway) Forget(ctx context.Context, name string) error {
	if err := g.opts.Store.DeleteClient(ctx, name); err != nil {
		return err
	}
	g.endSession(name, control.ReasonRemoved, "the client was removed from the gateway")
	if err := g.opts.Pool.Release(ctx, name); err != nil {
		return err
	}
	g.log.Info("p2s client forgotten", "client", name)
	return nil
}

// WGQuick renders the profile for wg-quick, its limits stated on top.
func (p *StaticProfile) WGQuick() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# intransit static profile for %q (group %s), for a stock WireGuard client.\n", p.Name, p.Group)
	b.WriteString("# Limits of a static profile, compared with `intransit p2s connect`:\n")
	b.WriteString("#  - UDP only: no fallback to QUIC or TLS on 443 when UDP is blocked;\n")
	b.WriteString("#  - the preshared key is fixed: no post-quantum PSK rotation;\n")
	b.WriteString("#  - no certificate: it is revoked only by removing it on the gateway\n")
	fmt.Fprintf(&b, "#    (intransit p2s remove %s), never by the CRL;\n", p.Name)
	b.WriteString("#  - this file holds the device's private key: keep it secret, delete it once imported.\n")
	b.WriteString("[Interface]\n")
	fmt.Fprintf(&b, "PrivateKey = %s\n", p.PrivateKey.Base64())
	var addrs []string
	for _, a := range p.Addresses {
		addrs = append(addrs, netip.PrefixFrom(a, a.BitLen()).String())
	}
	fmt.Fprintf(&b, "Address = %s\n", strings.Join(addrs, ", "))
	if len(p.DNSServers) > 0 {
		var ds []string
		for _, d := range p.DNSServers {
			ds = append(ds, d.String())
		}
		fmt.Fprintf(&b, "DNS = %s\n", strings.Join(ds, ", "))
	}
	b.WriteString("\n[Peer]\n")
	fmt.Fprintf(&b, "PublicKey = %s\n", p.GatewayKey.String())
	fmt.Fprintf(&b, "PresharedKey = %s\n", p.PresharedKey.Base64())
	fmt.Fprintf(&b, "Endpoint = %s\n", p.Endpoint)
	var rs []string
	for _, r := range p.Routes {
		rs = append(rs, r.String())
	}
	fmt.Fprintf(&b, "AllowedIPs = %s\n", strings.Join(rs, ", "))
	b.WriteString("PersistentKeepalive = 25\n")
	return b.String()
}
