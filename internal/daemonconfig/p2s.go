package daemonconfig

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"intransit/p2s"
	"intransit/tlspolicy"
	"intransit/tunnel"
	"intransit/tunnel/transport/registry"
)

// Defaults of the point-to-site section.
const (
	DefaultP2SInterface   = "itp0"
	DefaultP2SControlPort = 8444
	DefaultP2SAdminSocket = "/run/intransitd/p2s.sock"
	DefaultClientTTL      = 7 * 24 * time.Hour
	// DefaultLeaseIdle is how long a client may stay away before its
	// address lease is reclaimed.
	DefaultLeaseIdle = 30 * 24 * time.Hour
	// P2SCRLRefresh is identity.crl_refresh's default when a p2s section
	// is present.
	P2SCRLRefresh = 3 * time.Second
	// DefaultMaxClients is how many clients a gateway serves at once
	// unless max_clients says otherwise; MaxMaxClients the most it takes.
	DefaultMaxClients = 16384
	MaxMaxClients     = 1 << 20
)

// P2S is the optional point-to-site section: the gateway then also serves
// laptops.
//
//	p2s:
//	  interface: {name: itp0, mtu: 0}
//	  listen:                         # as the top-level listen section
//	    control: 0.0.0.0:8444
//	    udp: 0.0.0.0:51821
//	    quic: 0.0.0.0:443
//	    tls: 0.0.0.0:443
//	  enroll: 0.0.0.0:8445            # enrollment API (HTTPS)
//	  renew: 0.0.0.0:8446             # renewal API (HTTPS, mTLS)
//	  admin_socket: /run/intransitd/p2s.sock   # intransit p2s invite
//	  pki: {dir: /var/lib/intransit/pki, key_file: /etc/intransit/pki.key}
//	  client_ttl: 168h                # lifetime of client certificates
//	  client_keepalive: 2s
//	  lease_idle: 720h                # a client away this long loses its address
//	  max_clients: 16384              # connected clients at once (~100 KiB of memory each)
//	  pools: [10.9.0.0/24, fd00:9::/112]
//	  groups:
//	    - name: staff
//	      full_tunnel: false          # split tunnel: routes, else site_prefixes
//	      routes: []
//	      client_to_client: false
//	      dns: [10.1.0.53]
//	      search: [corp.example]
//	  gateways: [gw-a.example, gw-b.example]  # every gateway serving these clients (etcd store)
//	  announce: lan0                  # site LAN interface: answer ARP for the clients held here
type P2S struct {
	// Interface is the point-to-site TUN interface.
	Interface Interface `yaml:"interface"`
	// Listen holds the control and data-plane listen addresses.
	Listen Listen `yaml:"listen"`
	// Enroll is the enrollment API's listen address; Renew the renewal
	// API's (mTLS). Without them clients cannot enroll or renew here.
	Enroll Endpoint `yaml:"enroll"`
	Renew  Endpoint `yaml:"renew"`
	// EnrollProfile is the TLS profile of the enrollment API: modern by
	// default (TLS 1.3, hybrid post-quantum group preferred, classical ones
	// allowed), so that stock tools reach it; it carries only a one-time
	// token and public material. Renewal uses identity.profile.
	EnrollProfile string `yaml:"enroll_profile"`
	// AdminSocket is the root-only socket `intransit p2s invite` uses.
	AdminSocket string `yaml:"admin_socket"`
	// PKI is the CA that signs client certificates.
	PKI P2SPKI `yaml:"pki"`
	// ClientTTL is the lifetime of client certificates.
	ClientTTL Duration `yaml:"client_ttl"`
	// ClientKeepalive is the WireGuard keepalive sent to each client.
	ClientKeepalive Duration `yaml:"client_keepalive"`
	// LeaseIdle is how long a client may stay disconnected before its
	// address lease is reclaimed for other clients (DefaultLeaseIdle when
	// absent); connected clients and static devices keep theirs.
	LeaseIdle Duration `yaml:"lease_idle"`
	// MaxClients bounds the clients connected at once (DefaultMaxClients
	// when absent); one more is refused until another leaves. Each costs
	// the gateway about 100 KiB of memory (BENCHMARKS.md).
	MaxClients int `yaml:"max_clients"`
	// Pools are the address pools: at most one IPv4 and one IPv6 prefix.
	Pools []Prefix `yaml:"pools"`
	// Groups are the client policy groups.
	Groups []P2SGroup `yaml:"groups"`
	// Gateways and Announce: see P2SFleet.
	P2SFleet `yaml:",inline"`
}

// P2SPKI locates the CA and its master key.
type P2SPKI struct {
	// Dir is the PKI directory.
	Dir string `yaml:"dir"`
	// KeyFile holds the raw master key, PassphraseFile a passphrase; one
	// of them is required unless the keys the CA signs with, or the master
	// key, are in a PKCS#11 token.
	KeyFile        string `yaml:"key_file"`
	PassphraseFile string `yaml:"passphrase_file"`
	// Renew is the listen address of the certificate renewal API (mTLS)
	// through which gateways and TLS proxies renew their certificates;
	// absent: no renewal served (see renew.go).
	Renew Endpoint `yaml:"renew"`
}

// P2SGroup is a client policy group.
type P2SGroup struct {
	// Name names the group.
	Name string `yaml:"name"`
	// FullTunnel sends all the client's traffic into the tunnel.
	FullTunnel bool `yaml:"full_tunnel"`
	// Routes are the split-tunnel routes (site_prefixes when empty).
	Routes []Prefix `yaml:"routes"`
	// ClientToClient lets the group's members reach each other.
	ClientToClient bool `yaml:"client_to_client"`
	// DNS servers and Search domains pushed to the clients.
	DNS    []Addr   `yaml:"dns"`
	Search []string `yaml:"search"`
}

// Addr is an IP address in the file, with its line.
type Addr struct {
	netip.Addr
	// Line is where the address is written.
	Line int
}

// UnmarshalYAML parses an IP address.
func (a *Addr) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fieldErr(n.Line, "want an IP address such as 10.1.0.53")
	}
	ad, err := netip.ParseAddr(n.Value)
	if err != nil {
		return fieldErr(n.Line, fmt.Sprintf("invalid IP address %q: %v", n.Value, err))
	}
	a.Addr, a.Line = ad.Unmap(), n.Line
	return nil
}

// PoolV4 and PoolV6 return the pools per family (invalid when absent).
func (p *P2S) PoolV4() netip.Prefix { return p.pool(true) }

// PoolV6 returns the IPv6 pool (invalid when absent).
func (p *P2S) PoolV6() netip.Prefix { return p.pool(false) }

func (p *P2S) pool(v4 bool) netip.Prefix {
	for _, pr := range p.Pools {
		if pr.Addr().Is4() == v4 {
			return pr.Prefix
		}
	}
	return netip.Prefix{}
}

// p2s validates the point-to-site section.
func (v *validator) p2s(c *Config) {
	p := c.P2S
	if p == nil {
		return
	}
	at := func(f ...any) []any { return append([]any{"p2s"}, f...) }
	// A revoked client must be cut within 5 s: the CRL is fetched every
	// crl_refresh and sessions are checked every second, so a gateway
	// serving laptops fetches every P2SCRLRefresh unless told otherwise.
	if c.Identity.CRLRefresh.Line == 0 {
		c.Identity.CRLRefresh.Duration = P2SCRLRefresh
	}
	if p.Interface.Name == "" {
		p.Interface.Name = DefaultP2SInterface
	}
	if !ifaceName.MatchString(p.Interface.Name) {
		v.fail(0, at("interface", "name"), "%q: want 1 to 15 letters, digits, '.', '_' or '-'", p.Interface.Name)
	}
	if p.Interface.Name == c.Interface.Name {
		v.fail(0, at("interface", "name"), "%q is also the site-to-site interface", p.Interface.Name)
	}
	if p.Interface.MTU != 0 && (p.Interface.MTU < tunnel.MinMTU || p.Interface.MTU > tunnel.MaxMTU) {
		v.fail(0, at("interface", "mtu"), "%d is outside %d..%d", p.Interface.MTU, tunnel.MinMTU, tunnel.MaxMTU)
	}
	l := &p.Listen
	if !l.Control.IsValid() {
		l.Control = Endpoint{AddrPort: netip.AddrPortFrom(netip.IPv6Unspecified(), DefaultP2SControlPort)}
	}
	ts := l.Transports()
	if len(ts) == 0 {
		v.fail(0, at("listen"), "serve at least one data-plane transport (%s)", strings.Join(registry.Names(), ", "))
	}
	if p.Interface.MTU == 0 && len(ts) > 0 {
		mtu, err := registry.FallbackMTU(transportNames(ts), c.PathMTU)
		if err != nil && registry.CheckPathMTU(c.PathMTU) == nil { // else path_mtu's error says it
			v.fail(0, at("interface", "mtu"), "%v", err)
		}
		p.Interface.MTU = mtu
	}
	if err := registry.IPv6Error(p.Interface.MTU, c.PathMTU); err != nil {
		for i, pr := range p.Pools {
			if pr.Addr().Is6() {
				v.fail(pr.Line, at("pools", i), "%s: %v", pr.Prefix, err)
			}
		}
	}
	if p.EnrollProfile == "" {
		p.EnrollProfile = tlspolicy.Modern
	}
	if _, err := tlspolicy.Builtin(p.EnrollProfile); err != nil {
		p.EnrollProfile = resolve(c.Path, p.EnrollProfile)
		if _, err := tlspolicy.LoadProfile(p.EnrollProfile); err != nil {
			v.fail(0, at("enroll_profile"), "%v", err)
		}
	}
	if p.AdminSocket == "" {
		p.AdminSocket = DefaultP2SAdminSocket
	}
	p.AdminSocket = resolve(c.Path, p.AdminSocket)
	if (p.Enroll.IsValid() || p.Renew.IsValid()) && c.PKI == nil {
		if p.PKI.Dir == "" {
			v.fail(0, at("pki", "dir"), "required to sign client certificates (enroll, renew)")
		}
		if p.PKI.KeyFile != "" && p.PKI.PassphraseFile != "" {
			v.fail(0, at("pki"), "give one of key_file and passphrase_file, not both (neither when the CA keys are in a PKCS#11 token)")
		}
	}
	p.PKI.Dir, p.PKI.KeyFile, p.PKI.PassphraseFile = resolve(c.Path, p.PKI.Dir), resolve(c.Path, p.PKI.KeyFile), resolve(c.Path, p.PKI.PassphraseFile)
	if p.ClientTTL.Duration == 0 {
		p.ClientTTL.Duration = DefaultClientTTL
	}
	if p.ClientKeepalive.Duration == 0 {
		p.ClientKeepalive.Duration = 2 * time.Second
	}
	if p.ClientKeepalive.Duration < time.Second || p.ClientKeepalive.Duration > time.Hour {
		v.fail(p.ClientKeepalive.Line, at("client_keepalive"), "%s is outside 1s..1h", p.ClientKeepalive.Duration)
	}
	if p.LeaseIdle.Duration == 0 {
		p.LeaseIdle.Duration = DefaultLeaseIdle
	}
	if p.LeaseIdle.Duration < time.Second {
		v.fail(p.LeaseIdle.Line, at("lease_idle"), "%s is shorter than 1s", p.LeaseIdle.Duration)
	}
	if p.MaxClients == 0 {
		p.MaxClients = DefaultMaxClients
	}
	if p.MaxClients < 1 || p.MaxClients > MaxMaxClients {
		v.fail(0, at("max_clients"), "%d is outside 1..%d", p.MaxClients, MaxMaxClients)
	}
	v.p2sPools(c, at)
	v.p2sGroups(p, at)
	v.p2sFleet(c, at)
}

func (v *validator) p2sPools(c *Config, at func(...any) []any) {
	p := c.P2S
	if len(p.Pools) == 0 {
		v.fail(0, at("pools"), "at least one address pool is required")
	}
	fam := map[bool]int{}
	for i, pr := range p.Pools {
		v4 := pr.Addr().Is4()
		if j, dup := fam[v4]; dup {
			v.fail(pr.Line, at("pools", i), "a second pool of the same family as pools[%d]", j)
		}
		fam[v4] = i
		if (v4 && pr.Bits() > 30) || (!v4 && pr.Bits() > 126) {
			v.fail(pr.Line, at("pools", i), "%s is too small for clients", pr.Prefix)
		}
		for s, sp := range c.SitePrefixes {
			if sp.Overlaps(pr.Prefix) {
				v.fail(pr.Line, at("pools", i), "%s overlaps site_prefixes[%d] %s", pr.Prefix, s, sp.Prefix)
			}
		}
		for r, rm := range c.Remotes {
			for k, rp := range rm.AllowedPrefixes {
				if rp.Overlaps(pr.Prefix) {
					v.fail(pr.Line, at("pools", i), "%s overlaps remotes[%d].allowed_prefixes[%d] %s", pr.Prefix, r, k, rp.Prefix)
				}
			}
		}
	}
}

func (v *validator) p2sGroups(p *P2S, at func(...any) []any) {
	if len(p.Groups) == 0 {
		v.fail(0, at("groups"), "at least one client group is required")
	}
	names := map[string]int{}
	for i, g := range p.Groups {
		if err := p2s.CheckGroupName(g.Name); err != nil {
			v.fail(0, at("groups", i, "name"), "%v", err)
		}
		if j, dup := names[g.Name]; dup {
			v.fail(0, at("groups", i, "name"), "%q is also groups[%d].name", g.Name, j)
		}
		names[g.Name] = i
		if g.FullTunnel && len(g.Routes) > 0 {
			v.fail(0, at("groups", i, "routes"), "a full-tunnel group routes everything; remove routes or full_tunnel")
		}
		v.prefixList(at("groups", i, "routes"), g.Routes)
		if len(g.DNS) > 8 {
			v.fail(0, at("groups", i, "dns"), "at most 8 DNS servers")
		}
		if len(g.Search) > 16 {
			v.fail(0, at("groups", i, "search"), "at most 16 search domains")
		}
		for k, d := range g.Search {
			if !validDNSName(d) {
				v.fail(0, at("groups", i, "search", k), "%q is not a DNS name", d)
			}
		}
	}
}

// Prefixes returns the group's routes.
func (g P2SGroup) Prefixes() []netip.Prefix { return prefixes(g.Routes) }
