package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"intransit/internal/gatewaycore"
	"intransit/p2s"
	"intransit/p2s/announce"
	"intransit/p2s/pool"
	"intransit/tunnel"
	"intransit/tunnel/control"
	"intransit/tunnel/transport/multi"
)

// Options configure a Gateway.
type Options struct {
	// Interface is the TUN interface name and MTU its MTU.
	Interface string
	MTU       int
	// Control is the control-channel listen address.
	Control netip.AddrPort
	// PathMTU is the smallest MTU of the paths to the clients
	// (transport.DefaultPathMTU if 0): QUIC packets and the TCP segments
	// of the control channel and the tls transport are sized to it.
	PathMTU int
	// Transports are the served data-plane transports, udp first if
	// present; an unspecified address advertises the address the client
	// reached the control channel at.
	Transports []Listener
	// Identity is the gateway's certificate, the CAs that client
	// certificates chain to, their CRL and the TLS profile.
	gatewaycore.Identity
	// ControlMetrics counts control sessions and PSK rotations; nil counts
	// nothing.
	ControlMetrics *control.Metrics
	// PrivateKey is the WireGuard static key.
	PrivateKey tunnel.PrivateKey
	// Pool hands out client addresses; Store holds the enrolled clients.
	Pool  *pool.Pool
	Store p2s.Store
	// SitePrefixes are the prefixes behind the gateway: the routes of a
	// split-tunnel group that names none.
	SitePrefixes []netip.Prefix
	// Groups are the policy groups; a client whose group is not listed is
	// refused.
	Groups []Group
	// PSKRotation, Keepalive and DeadAfter configure the control sessions.
	PSKRotation, Keepalive, DeadAfter time.Duration
	// ClientKeepalive is the WireGuard keepalive the gateway sends each
	// client (DefaultClientKeepalive when 0), from the client's first
	// in-tunnel probe on; clients watch for it to notice a broken
	// transport.
	ClientKeepalive time.Duration
	// Admission bounds the control listener.
	Admission gatewaycore.Limits
	// Holders, when several gateways serve the same clients from one
	// shared store, records which of them holds each client's session
	// (see fleet.go); nil for a gateway alone.
	Holders p2s.Holders
	// Announcer answers for the addresses of the clients this gateway
	// holds on the site LAN (p2s/announce); nil announces nothing.
	Announcer announce.Announcer
	// LeaseIdle is how long a client may stay disconnected before its
	// address lease is reclaimed; 0 keeps leases until the client is
	// forgotten. Connected clients and static devices keep theirs.
	LeaseIdle time.Duration
	// Logger receives the gateway's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultClientKeepalive is the default of Options.ClientKeepalive.
const DefaultClientKeepalive = 2 * time.Second

// Listener is one served data-plane transport.
type Listener = multi.Listener

// Group is a client policy group.
type Group struct {
	// Name names the group (tokens and client records carry it).
	Name string
	// FullTunnel sends all the client's traffic into the tunnel; otherwise
	// only Routes (split tunnel).
	FullTunnel bool
	// Routes are the split-tunnel routes; empty means the site prefixes.
	Routes []netip.Prefix
	// ClientToClient lets members of the group reach each other; clients
	// are isolated otherwise.
	ClientToClient bool
	// DNSServers and SearchDomains are pushed to the clients.
	DNSServers    []netip.Addr
	SearchDomains []string
}

// fullTunnel are the routes of a full-tunnel group.
var fullTunnel = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}

// routes are the routes pushed to members of the group.
func (gr Group) routes(site []netip.Prefix) []netip.Prefix {
	switch {
	case gr.FullTunnel:
		return fullTunnel
	case len(gr.Routes) > 0:
		return gr.Routes
	}
	return site
}

func (o *Options) check() error {
	if err := o.Identity.Complete("p2s gateway"); err != nil {
		return err
	}
	if o.Pool == nil || o.Store == nil {
		return errors.New("p2s gateway: the address pool and the store are required")
	}
	if len(o.Transports) == 0 {
		return errors.New("p2s gateway: no data-plane transport to serve")
	}
	if len(o.Groups) == 0 {
		return errors.New("p2s gateway: no client group")
	}
	seen := map[string]bool{}
	for _, gr := range o.Groups {
		if err := p2s.CheckGroupName(gr.Name); err != nil {
			return fmt.Errorf("p2s gateway: group name %w", err)
		}
		if seen[gr.Name] {
			return fmt.Errorf("p2s gateway: group %q listed twice", gr.Name)
		}
		seen[gr.Name] = true
	}
	for _, pp := range o.Pool.Prefixes() {
		for _, s := range o.SitePrefixes {
			if pp.Overlaps(s) {
				return fmt.Errorf("p2s gateway: address pool %s overlaps site prefix %s", pp, s)
			}
		}
	}
	if o.ClientKeepalive == 0 {
		o.ClientKeepalive = DefaultClientKeepalive
	}
	return nil
}
