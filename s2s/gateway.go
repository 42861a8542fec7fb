package s2s

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"intransit/internal/gatewaycore"
	"intransit/internal/status"
	"intransit/tlspolicy"
	"intransit/tunnel"
	"intransit/tunnel/control"
	"intransit/tunnel/transport/multi"
)

// Options configure a Gateway.
type Options struct {
	// Interface is the TUN interface name and MTU the interface MTU.
	Interface string
	MTU       int
	// SitePrefixes are the local site prefixes offered to every remote.
	SitePrefixes []netip.Prefix
	// Control is the control-channel listen address.
	Control netip.AddrPort
	// Transports are the served data-plane transports, udp first if
	// present; an unspecified address advertises the address the remote
	// reached the control channel at.
	Transports []Listener
	// Identity is the gateway's certificate, the CAs that remotes'
	// certificates chain to, their CRL and the TLS profile.
	gatewaycore.Identity
	// ControlMetrics counts control sessions and PSK rotations; nil counts
	// nothing.
	ControlMetrics *control.Metrics
	// PrivateKey is the WireGuard static key.
	PrivateKey tunnel.PrivateKey
	// PSKRotation, Keepalive and DeadAfter configure the control sessions
	// (control.Config's RotationPeriod, KeepaliveInterval and DeadAfter).
	PSKRotation, Keepalive, DeadAfter time.Duration
	// PathMTU is the smallest MTU of the WAN path: QUIC packets, the TCP
	// segments of the control channel and the tls transport, and the MSS
	// clamp of forwarded TCP are sized to it.
	PathMTU int
	// Admission bounds the control listener; connections from the
	// addresses of configured remotes' control endpoints get the reserved
	// handshake slots.
	Admission gatewaycore.Limits
	// Remotes are the remote gateways.
	Remotes []Remote
	// Logger receives the gateway's logs; nil discards them.
	Logger *slog.Logger
}

// Listener is one served data-plane transport.
type Listener = multi.Listener

// Remote is a remote gateway.
type Remote struct {
	// Name names the remote in logs, status and metrics.
	Name string
	// Identity is the URI SAN (containing "://") or DNS SAN the remote's
	// certificate must carry.
	Identity string
	// Control are the remote's control endpoints, dialed in order; none
	// means the remote always dials us.
	Control []netip.AddrPort
	// Transports orders the data-plane transports used with the remote.
	Transports []string
	// AllowedPrefixes are the prefixes the remote may be routed for.
	AllowedPrefixes []netip.Prefix
}

// Equal reports whether two remotes are configured the same.
func (r Remote) Equal(o Remote) bool {
	return r.Name == o.Name && r.Identity == o.Identity && slices.Equal(r.Control, o.Control) &&
		slices.Equal(r.Transports, o.Transports) && slices.Equal(r.AllowedPrefixes, o.AllowedPrefixes)
}

// matches reports whether the certificate carries the remote's identity.
func (r Remote) matches(c *x509.Certificate) bool {
	if strings.Contains(r.Identity, "://") {
		for _, u := range c.URIs {
			if u.String() == r.Identity {
				return true
			}
		}
		return false
	}
	return slices.Contains(c.DNSNames, r.Identity)
}

// allow is the remote's identity as a tlspolicy allow-list.
func (r Remote) allow() tlspolicy.Identity {
	if strings.Contains(r.Identity, "://") {
		return tlspolicy.Identity{URIs: []string{r.Identity}}
	}
	return tlspolicy.Identity{DNSNames: []string{r.Identity}}
}

// Gateway is a running site-to-site gateway.
type Gateway struct {
	opts    Options
	id      gatewaycore.Identity
	log     *slog.Logger
	dev     *tunnel.Device
	bind    *multi.Bind
	peers   *gatewaycore.Peers // taken after a remote's mu
	routes  *routeTable
	clamp   *mssClamp
	ctrlLn  net.Listener
	ctrl    *gatewaycore.Server
	dataTLS *dataClientTLS
	// refusals records refused peers; dialers are the addresses of the
	// remotes' control endpoints, whose connections have priority.
	refusals *gatewaycore.Refusals
	dialers  atomic.Pointer[map[netip.Addr]bool]

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards what follows; it is taken before a remote's mu, never
	// while holding one.
	mu      sync.Mutex
	remotes map[string]*remote
}

// Open starts the gateway: the TUN device with every transport, the MSS
// clamp, the control listener and one session loop per remote. ctx bounds
// the setup only; Close stops the gateway. On error nothing is left behind.
func Open(ctx context.Context, opts Options) (*Gateway, error) {
	if err := opts.Identity.Complete("s2s"); err != nil {
		return nil, err
	}
	if len(opts.Transports) == 0 {
		return nil, errors.New("s2s: no data-plane transport to serve")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{opts: opts, id: opts.Identity, log: log, remotes: map[string]*remote{},
		refusals: gatewaycore.NewRefusals(log, "peer refused", gatewaycore.DefaultLogEvery)}
	server, err := tlspolicy.ControlServerConfig(g.id.Options(gatewaycore.LimitLog(log, gatewaycore.DefaultLogEvery)))
	if err != nil {
		return nil, fmt.Errorf("s2s: control channel: %w", err)
	}
	bind, err := multi.Listen(g.opts.Transports, g.dataTLSConfigs, opts.PathMTU, g.log)
	if err != nil {
		return nil, fmt.Errorf("s2s: data plane: %w", err)
	}
	g.bind = bind
	g.dev, err = tunnel.Open(ctx, tunnel.Config{
		Name: opts.Interface, MTU: opts.MTU, PrivateKey: opts.PrivateKey,
		ListenPort: opts.Transports[0].Endpoint.Port(), Bind: bind, Logger: log.With("component", "wireguard"),
	})
	if err != nil {
		return nil, fmt.Errorf("s2s: %w", err)
	}
	g.peers = gatewaycore.NewPeers(g.dev)
	g.routes, err = newRouteTable(opts.Interface)
	if err != nil {
		g.dev.Close()
		return nil, fmt.Errorf("s2s: %w", err)
	}
	g.clamp, err = installMSSClamp(ctx, opts.Interface, opts.PathMTU, g.dev.MTU())
	if err != nil {
		g.dev.Close()
		return nil, fmt.Errorf("s2s: %w", err)
	}
	g.ctrlLn, err = control.Listen(ctx, opts.Control, opts.PathMTU)
	if err != nil {
		g.clamp.remove()
		g.dev.Close()
		return nil, fmt.Errorf("s2s: control listener: %w", err)
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.ctrl = gatewaycore.NewServer(gatewaycore.ServerConfig{Listener: g.ctrlLn, TLS: server, Limits: opts.Admission,
		Priority: g.dialsUs, Serve: g.serveControl, Refusals: g.refusals, Logger: log})
	g.wg.Add(2)
	go func() { defer g.wg.Done(); g.ctrl.Serve(g.ctx) }()
	go func() { defer g.wg.Done(); g.id.Watch(g.ctx, time.Second, g.watched) }()
	if err := g.SetRemotes(opts.Remotes); err != nil {
		g.Close()
		return nil, err
	}
	log.Info("gateway up", "interface", opts.Interface, "mtu", g.dev.MTU(), "control", g.ctrlLn.Addr().String(),
		"transports", multi.Names(g.opts.Transports), "public_key", g.dev.PublicKey().String(), "site_prefixes", fmt.Sprint(opts.SitePrefixes))
	return g, nil
}

// Close ends every session (telling the remotes), removes peers, routes and
// the MSS clamp, and deletes the interface.
func (g *Gateway) Close() error {
	g.cancel()
	g.ctrlLn.Close()
	g.mu.Lock()
	for _, r := range g.remotes {
		r.stop(control.ReasonShutdown, "gateway stopping")
	}
	g.mu.Unlock()
	g.wg.Wait()
	g.routes.removeAll()
	g.clamp.remove()
	return g.dev.Close()
}

// Wait returns a channel closed when the device stopped by itself.
func (g *Gateway) Wait() <-chan struct{} { return g.dev.Wait() }

// SetRemotes applies a new list of remotes: new ones start, removed ones
// are closed with ReasonRemoved (their peers and routes go), changed ones
// are restarted, and unchanged ones keep their sessions. It refuses a list
// whose prefixes overlap each other or the site prefixes and then changes
// nothing.
func (g *Gateway) SetRemotes(remotes []Remote) error {
	names := map[string]bool{}
	for i, r := range remotes {
		if names[r.Name] {
			return fmt.Errorf("s2s: remote %q listed twice", r.Name)
		}
		names[r.Name] = true
		if err := control.ValidatePrefixes("remote "+r.Name+" allowed prefixes", r.AllowedPrefixes); err != nil {
			return fmt.Errorf("s2s: %w", err)
		}
		for _, p := range r.AllowedPrefixes {
			for _, s := range g.opts.SitePrefixes {
				if p.Overlaps(s) {
					return fmt.Errorf("s2s: remote %s: %s overlaps site prefix %s", r.Name, p, s)
				}
			}
			for _, o := range remotes[:i] {
				for _, op := range o.AllowedPrefixes {
					if p.Overlaps(op) {
						return fmt.Errorf("s2s: remote %s: %s overlaps %s of remote %s", r.Name, p, op, o.Name)
					}
				}
			}
		}
	}
	if err := g.dataTLS.setRemotes(remotes); err != nil {
		return err
	}
	dialers := map[netip.Addr]bool{}
	for _, r := range remotes {
		for _, c := range r.Control {
			dialers[c.Addr().Unmap()] = true
		}
	}
	g.dialers.Store(&dialers)
	g.mu.Lock()
	defer g.mu.Unlock()
	for name, r := range g.remotes {
		i := slices.IndexFunc(remotes, func(n Remote) bool { return n.Name == name })
		if i >= 0 && remotes[i].Equal(r.cfg) {
			continue
		}
		reason, detail := control.ReasonRemoved, "removed from the configuration"
		if i >= 0 {
			detail = changedDetail
		}
		g.log.Info("remote stopping", "remote", name, "why", detail)
		r.stop(reason, detail)
		delete(g.remotes, name)
	}
	for _, cfg := range remotes {
		if _, ok := g.remotes[cfg.Name]; ok {
			continue
		}
		r := newRemote(g, cfg)
		g.remotes[cfg.Name] = r
		g.log.Info("remote added", "remote", cfg.Name, "identity", cfg.Identity, "dials", len(cfg.Control) > 0)
		g.wg.Add(1)
		go func() { defer g.wg.Done(); r.run() }()
	}
	return nil
}

// dialsUs reports whether addr is a configured remote's control address:
// its connections take reserved handshake slots.
func (g *Gateway) dialsUs(addr netip.Addr) bool {
	m := g.dialers.Load()
	return m != nil && (*m)[addr]
}

// serveControl runs a responder session on an accepted connection whose
// TLS handshake completed.
func (g *Gateway) serveControl(ctx context.Context, tc *tls.Conn) {
	ss := &sessionState{role: control.Responder, conn: tc}
	sess, err := control.New(tc, g.sessionConfig(control.Responder, ss))
	if err != nil {
		g.log.Error("control session not started", "error", err.Error())
		tc.Close()
		return
	}
	ss.sess = sess
	err = sess.Run(ctx)
	ss.finish(err)
}

// remoteFor finds the remote a certificate belongs to.
func (g *Gateway) remoteFor(c *x509.Certificate) *remote {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range g.remotes {
		if r.cfg.matches(c) {
			return r
		}
	}
	return nil
}

// watched are the sessions whose certificates the identity watches.
func (g *Gateway) watched() []gatewaycore.Watched {
	g.mu.Lock()
	rs := make([]*remote, 0, len(g.remotes))
	for _, r := range g.remotes {
		rs = append(rs, r)
	}
	g.mu.Unlock()
	var out []gatewaycore.Watched
	for _, r := range rs {
		r.mu.Lock()
		if r.cur != nil && r.cur.peer != nil {
			out = append(out, r.cur)
		}
		r.mu.Unlock()
	}
	return out
}

// Status reports the gateway and its remotes.
func (g *Gateway) Status() status.Report {
	own, _ := g.id.Own()
	rep := status.Report{Time: time.Now(), Gateway: status.Gateway{
		Identity: own.Identity, CertExpiry: own.NotAfter, PublicKey: g.dev.PublicKey().String(),
		Interface: g.dev.Name(), MTU: g.dev.MTU(), Transports: multi.Names(g.opts.Transports), Control: g.ctrlLn.Addr().String(),
	}}
	for _, p := range g.opts.SitePrefixes {
		rep.Gateway.SitePrefixes = append(rep.Gateway.SitePrefixes, p.String())
	}
	byKey, err := g.peers.ByKey()
	if err != nil {
		g.log.Debug("device status", "error", err.Error())
	}
	g.mu.Lock()
	rs := make([]*remote, 0, len(g.remotes))
	for _, r := range g.remotes {
		rs = append(rs, r)
	}
	g.mu.Unlock()
	rep.Refusals = g.refusals.List()
	sort.Slice(rs, func(i, j int) bool { return rs[i].cfg.Name < rs[j].cfg.Name })
	for _, r := range rs {
		rep.Peers = append(rep.Peers, r.status(byKey))
	}
	if rep.Peers == nil {
		rep.Peers = []status.Peer{}
	}
	return rep
}

// Reload re-reads the certificate, the CAs and the CRL; broken new material
// is refused and the current one kept.
func (g *Gateway) Reload(ctx context.Context) error { return g.id.Reload(ctx) }
