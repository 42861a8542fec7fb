package s2s

import (
	"context"
	"crypto"
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
	"time"

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
	// Certificate is the gateway's certificate and key, CAs the CAs
	// that remotes' certificates chain to, Revocation their CRL.
	Certificate *tlspolicy.KeyPairFiles
	CAs         *tlspolicy.CAFile
	Revocation  *tlspolicy.Revocation
	// Profile is the TLS profile of the control channel and of the quic
	// and tls transports (tlspolicy's pq profile when nil).
	Profile *tlspolicy.Profile
	// TLSMetrics counts TLS handshakes and refusals; nil counts nothing.
	TLSMetrics *tlspolicy.Metrics
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

// maxRefusals bounds the refusals kept for the status.
const maxRefusals = 16

// maxControlConns bounds the accepted control connections served at once
// (sessions and handshakes in progress), so that a flood of connections
// cannot exhaust the gateway; beyond it new connections are closed at once.
const maxControlConns = 1024

// Gateway is a running site-to-site gateway.
type Gateway struct {
	opts    Options
	log     *slog.Logger
	dev     *tunnel.Device
	bind    *multi.Bind
	routes  *routeTable
	clamp   *mssClamp
	ctrlLn  net.Listener
	server  *tls.Config
	dataTLS *dataClientTLS

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// peerMu serializes WireGuard peer creation and removal with their
	// owners; it is taken after a remote's mu and before nothing else.
	peerMu    sync.Mutex
	peerOwner map[tunnel.PublicKey]*remote

	// mu guards what follows; it is taken before a remote's mu, never
	// while holding one.
	mu        sync.Mutex
	remotes   map[string]*remote
	refusals  []status.Refusal
	refusedBy map[string]uint64 // refusals counted by reason
}

// Open starts the gateway: the TUN device with every transport, the MSS
// clamp, the control listener and one session loop per remote. ctx bounds
// the setup only; Close stops the gateway. On error nothing is left behind.
func Open(ctx context.Context, opts Options) (*Gateway, error) {
	if opts.Profile == nil {
		p, err := tlspolicy.Builtin(tlspolicy.PQ)
		if err != nil {
			return nil, err
		}
		opts.Profile = p
	}
	if opts.Certificate == nil || opts.CAs == nil || opts.Revocation == nil {
		return nil, errors.New("s2s: the gateway needs its certificate, the CAs and the CRL")
	}
	if len(opts.Transports) == 0 {
		return nil, errors.New("s2s: no data-plane transport to serve")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{opts: opts, log: log, remotes: map[string]*remote{}, peerOwner: map[tunnel.PublicKey]*remote{}}
	g.refusedBy = map[string]uint64{}
	server, err := tlspolicy.ControlServerConfig(tlspolicy.Options{
		Profile: opts.Profile, Certificate: opts.Certificate, CAs: opts.CAs, Revocation: opts.Revocation,
		Logger: log, Metrics: opts.TLSMetrics,
	})
	if err != nil {
		return nil, fmt.Errorf("s2s: control channel: %w", err)
	}
	g.server = server
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
	g.wg.Add(2)
	go func() { defer g.wg.Done(); g.accept() }()
	go func() { defer g.wg.Done(); g.watchCertificates() }()
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
	g.mu.Lock()
	defer g.mu.Unlock()
	for name, r := range g.remotes {
		i := slices.IndexFunc(remotes, func(n Remote) bool { return n.Name == name })
		if i >= 0 && remotes[i].Equal(r.cfg) {
			continue
		}
		reason, detail := control.ReasonRemoved, "removed from the configuration"
		if i >= 0 {
			detail = "configuration changed"
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

// accept serves the control listener.
func (g *Gateway) accept() {
	slots := make(chan struct{}, maxControlConns)
	for {
		c, err := g.ctrlLn.Accept()
		if err != nil {
			if g.ctx.Err() == nil {
				g.log.Error("control listener failed", "error", err.Error())
			}
			return
		}
		select {
		case slots <- struct{}{}:
		default:
			g.log.Warn("too many control connections, closing a new one", "remote_addr", c.RemoteAddr().String(), "limit", maxControlConns)
			c.Close()
			continue
		}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			defer func() { <-slots }()
			g.serveControl(c)
		}()
	}
}

// serveControl runs a responder session on an accepted connection.
func (g *Gateway) serveControl(c net.Conn) {
	tc := tls.Server(c, g.server)
	ss := &sessionState{role: control.Responder, conn: tc}
	sess, err := control.New(tc, g.sessionConfig(control.Responder, ss))
	if err != nil {
		g.log.Error("control session not started", "error", err.Error())
		c.Close()
		return
	}
	ss.sess = sess
	err = sess.Run(g.ctx)
	ss.finish(err)
}

// refused records a refused connection.
func (g *Gateway) refused(remoteAddr, identity, reason, detail string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refusals = append(g.refusals, status.Refusal{Time: time.Now(), Remote: remoteAddr, Identity: identity, Reason: reason, Detail: detail})
	if len(g.refusals) > maxRefusals {
		g.refusals = slices.Delete(g.refusals, 0, len(g.refusals)-maxRefusals)
	}
	g.refusedBy[reason]++
	g.log.Warn("peer refused", "remote_addr", remoteAddr, "identity", identity, "reason", reason, "detail", detail)
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

// ownIdentity is the gateway's certificate identity and expiry.
func (g *Gateway) ownIdentity() (string, time.Time, crypto.Signer, error) {
	cert, err := g.opts.Certificate.Certificate()
	if err != nil {
		return "", time.Time{}, nil, err
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return "", time.Time{}, nil, err
		}
	}
	signer, ok := cert.PrivateKey.(crypto.Signer)
	if !ok {
		return "", time.Time{}, nil, errors.New("the certificate's private key cannot sign")
	}
	return certIdentity(leaf), leaf.NotAfter, signer, nil
}

// certIdentity names a certificate as the control package does: first URI
// SAN, else first DNS SAN, else common name.
func certIdentity(c *x509.Certificate) string {
	switch {
	case len(c.URIs) > 0:
		return c.URIs[0].String()
	case len(c.DNSNames) > 0:
		return c.DNSNames[0]
	}
	return c.Subject.CommonName
}

// watchCertificates cuts sessions whose peer certificate was revoked or
// has expired, once a second.
func (g *Gateway) watchCertificates() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-t.C:
		}
		g.mu.Lock()
		rs := make([]*remote, 0, len(g.remotes))
		for _, r := range g.remotes {
			rs = append(rs, r)
		}
		g.mu.Unlock()
		for _, r := range rs {
			r.checkCertificate(g.opts.Revocation)
		}
	}
}

// Status reports the gateway and its remotes.
func (g *Gateway) Status() status.Report {
	id, expiry, _, _ := g.ownIdentity()
	rep := status.Report{Time: time.Now(), Gateway: status.Gateway{
		Identity: id, CertExpiry: expiry, PublicKey: g.dev.PublicKey().String(),
		Interface: g.dev.Name(), MTU: g.dev.MTU(), Transports: multi.Names(g.opts.Transports), Control: g.ctrlLn.Addr().String(),
	}}
	for _, p := range g.opts.SitePrefixes {
		rep.Gateway.SitePrefixes = append(rep.Gateway.SitePrefixes, p.String())
	}
	peers, err := g.dev.Peers()
	if err != nil {
		g.log.Debug("device status", "error", err.Error())
	}
	byKey := map[tunnel.PublicKey]tunnel.PeerStatus{}
	for _, p := range peers {
		byKey[p.PublicKey] = p
	}
	g.mu.Lock()
	rs := make([]*remote, 0, len(g.remotes))
	for _, r := range g.remotes {
		rs = append(rs, r)
	}
	rep.Refusals = slices.Clone(g.refusals)
	g.mu.Unlock()
	sort.Slice(rs, func(i, j int) bool { return rs[i].cfg.Name < rs[j].cfg.Name })
	for _, r := range rs {
		rep.Peers = append(rep.Peers, r.status(byKey))
	}
	if rep.Peers == nil {
		rep.Peers = []status.Peer{}
	}
	if rep.Refusals == nil {
		rep.Refusals = []status.Refusal{}
	}
	return rep
}

// Reload re-reads the certificate, the CAs and the CRL; broken new material
// is refused and the current one kept.
func (g *Gateway) Reload(ctx context.Context) error {
	var errs []error
	for _, r := range []tlspolicy.Reloader{g.opts.Certificate, g.opts.CAs, g.opts.Revocation} {
		if err := r.Reload(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
