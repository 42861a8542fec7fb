// Package gateway is the gateway side of point-to-site: it admits laptops
// on the mTLS control channel (tunnel/control) and runs their WireGuard
// peers on one TUN device that serves every configured transport.
//
// # Admission
//
// Every connect is checked afresh: the TLS layer (tlspolicy) verifies that
// the client certificate is valid, chains to the configured CAs, is not on
// the CRL and fits the profile; then the certificate must be a client
// certificate (intransit://<ca>/client/<name>) of a client that enrolled
// with this gateway, whose group is configured. The client then gets its
// addresses from the pool (the same ones on every connect, across gateway
// restarts), the routes of its group (the site prefixes by default: split
// tunnel; everything for a full-tunnel group), the group's DNS servers and
// search domains, the gateway's WireGuard key in the Hello, and a
// post-quantum PSK rotated as for site-to-site. A client presenting a
// WireGuard key that another client or a static device holds is refused
// (key_in_use) and the holder keeps its peer. Refusals are logged (one line
// per reason every 10 seconds at most), kept for the status, counted, and
// sent to the client with their reason.
//
// The control listener admits connections as internal/gatewaycore does:
// bounded handshake slots per source, a handshake deadline, then bounded
// session slots.
//
// # Isolation
//
// Clients cannot reach each other: an nftables table drops traffic that
// enters and leaves the tunnel interface, except between members of a
// group that allows it (nftables sets of their addresses).
//
// # Revocation
//
// Once a second every session's certificate is checked against the CRL
// (refreshed by the caller, every few seconds) and its expiry; a revoked or
// expired one is closed with ReasonRevoked and its peer removed at once.
package gateway

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
	"sync"
	"time"

	"intransit/internal/gatewaycore"
	"intransit/internal/status"
	"intransit/p2s"
	"intransit/p2s/pool"
	"intransit/tlspolicy"
	"intransit/tunnel"
	"intransit/tunnel/control"
	"intransit/tunnel/pqpsk"
	"intransit/tunnel/transport"
	"intransit/tunnel/transport/multi"
)

// superseded is the detail of a session replaced by a newer one.
const superseded = "superseded by a new session of the same client"

// Gateway is a running point-to-site gateway.
type Gateway struct {
	opts     Options
	id       gatewaycore.Identity
	log      *slog.Logger
	dev      *tunnel.Device
	peers    *gatewaycore.Peers // taken after mu
	bind     *multi.Bind
	iso      *isolation
	ctrlLn   net.Listener
	ctrl     *gatewaycore.Server
	refusals *gatewaycore.Refusals

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	sessions map[string]*session // by client name
	statics  map[string]p2s.Static
	// staticOwners hold the static devices' WireGuard keys, by name.
	staticOwners map[string]*gatewaycore.Owner
	// connects counts sessions established, for the metrics.
	connects uint64
	// reclaimed counts leases released by the lease sweep.
	reclaimed uint64
}

// Open starts the gateway: the TUN device with the pools' first addresses
// and every transport, client isolation, and the control listener. ctx
// bounds the setup; Close stops the gateway. On error nothing is left.
func Open(ctx context.Context, opts Options) (*Gateway, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{opts: opts, id: opts.Identity, log: log, sessions: map[string]*session{}, statics: map[string]p2s.Static{},
		staticOwners: map[string]*gatewaycore.Owner{}, refusals: gatewaycore.NewRefusals(log, "p2s client refused", gatewaycore.DefaultLogEvery)}
	tlsOpts := g.id.Options(gatewaycore.LimitLog(log, gatewaycore.DefaultLogEvery))
	// Revocation is decided in admit rather than in the TLS handshake, so
	// that a revoked laptop is told "revoked" on the control channel: Go's
	// TLS server can only answer a refused client certificate with the
	// alert bad_certificate, never certificate_revoked.
	ctrlOpts := tlsOpts
	ctrlOpts.Revocation = nil
	server, err := tlspolicy.ControlServerConfig(ctrlOpts)
	if err != nil {
		return nil, fmt.Errorf("p2s gateway: control channel: %w", err)
	}
	// The quic and tls transports require client certificates (mTLS) like
	// the control channel; the gateway never dials a laptop's data plane.
	bind, err := multi.Listen(opts.Transports, func() (*tls.Config, *tls.Config, error) {
		server, err := tlspolicy.ServerConfig(tlsOpts)
		return server, nil, err
	}, opts.PathMTU, g.log)
	if err != nil {
		return nil, fmt.Errorf("p2s gateway: data plane: %w", err)
	}
	g.bind = bind
	g.dev, err = tunnel.Open(ctx, tunnel.Config{
		Name: opts.Interface, MTU: opts.MTU, PrivateKey: opts.PrivateKey, Addresses: opts.Pool.GatewayAddresses(),
		ListenPort: opts.Transports[0].Endpoint.Port(), Bind: bind, Logger: log.With("component", "wireguard"),
	})
	if err != nil {
		return nil, fmt.Errorf("p2s gateway: %w", err)
	}
	g.peers = gatewaycore.NewPeers(g.dev)
	g.iso, err = installIsolation(ctx, opts.Interface, opts.Groups)
	if err != nil {
		g.dev.Close()
		return nil, fmt.Errorf("p2s gateway: %w", err)
	}
	if err := g.loadStatics(ctx); err != nil {
		g.iso.remove()
		g.dev.Close()
		return nil, fmt.Errorf("p2s gateway: %w", err)
	}
	g.ctrlLn, err = control.Listen(ctx, opts.Control, opts.PathMTU)
	if err != nil {
		g.iso.remove()
		g.dev.Close()
		return nil, fmt.Errorf("p2s gateway: control listener: %w", err)
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.ctrl = gatewaycore.NewServer(gatewaycore.ServerConfig{Listener: g.ctrlLn, TLS: server, Limits: opts.Admission,
		Serve: g.serve, Refusals: g.refusals, Logger: log})
	g.wg.Add(2)
	go func() { defer g.wg.Done(); g.ctrl.Serve(g.ctx) }()
	go func() { defer g.wg.Done(); g.id.Watch(g.ctx, time.Second, g.watched) }()
	if opts.LeaseIdle > 0 {
		g.wg.Add(1)
		go func() { defer g.wg.Done(); g.sweepLeases() }()
	}
	if opts.Holders != nil {
		g.wg.Add(1)
		go func() { defer g.wg.Done(); g.followLost() }()
	}
	log.Info("p2s gateway up", "interface", opts.Interface, "mtu", g.dev.MTU(), "control", g.ctrlLn.Addr().String(),
		"transports", multi.Names(g.opts.Transports), "pools", fmt.Sprint(opts.Pool.Prefixes()), "public_key", g.dev.PublicKey().String())
	return g, nil
}

// Close ends every session (telling the clients), removes the isolation
// table and deletes the interface.
func (g *Gateway) Close() error {
	g.cancel()
	g.ctrlLn.Close()
	g.mu.Lock()
	for _, s := range g.sessions {
		s.sess.Close(control.ReasonShutdown, "gateway stopping")
	}
	g.mu.Unlock()
	g.wg.Wait()
	g.iso.remove()
	return g.dev.Close()
}

// Refusals is the gateway's record of refused connections, which the
// enrollment and renewal listeners share.
func (g *Gateway) Refusals() *gatewaycore.Refusals { return g.refusals }

// Wait returns a channel closed when the device stopped by itself.
func (g *Gateway) Wait() <-chan struct{} { return g.dev.Wait() }

// serve runs one client's control session on a connection whose TLS
// handshake completed.
func (g *Gateway) serve(ctx context.Context, tc *tls.Conn) {
	s := &session{g: g, conn: tc}
	own, err := g.id.Own()
	if err != nil {
		g.log.Error("own certificate unusable", "error", err.Error())
		tc.Close()
		return
	}
	sess, err := control.New(tc, control.Config{
		Role: control.Responder, Kind: control.KindGateway, WireGuardKey: g.dev.PublicKey(), Signer: own.Signer,
		Prefixes: g.opts.SitePrefixes, Transports: gatewaycore.Advertised(g.opts.Transports, tc.LocalAddr()),
		Admit: s.admit, InstallPSK: s.install,
		RotationPeriod: g.opts.PSKRotation, KeepaliveInterval: g.opts.Keepalive, DeadAfter: g.opts.DeadAfter,
		Liveness: s.dataPlaneHeard, Metrics: g.opts.ControlMetrics,
		Logger: g.log.With("component", "p2s-control", "remote_addr", tc.RemoteAddr().String()),
	})
	if err != nil {
		g.log.Error("p2s control session not started", "error", err.Error())
		tc.Close()
		return
	}
	s.sess = sess
	s.finish(sess.Run(ctx))
}

func (g *Gateway) group(name string) (Group, bool) {
	i := slices.IndexFunc(g.opts.Groups, func(gr Group) bool { return gr.Name == name })
	if i < 0 {
		return Group{}, false
	}
	return g.opts.Groups[i], true
}

// clientName returns the client name of a client certificate, or why it
// is not one.
func clientName(c *x509.Certificate) (string, error) {
	name := c.Subject.CommonName
	for _, u := range c.URIs {
		if u.Scheme == "intransit" && u.Path == "/client/"+name {
			return name, nil
		}
	}
	return "", fmt.Errorf("certificate %q is not an intransit client certificate (no intransit://<ca>/client/%s URI)", name, name)
}

// watched are the sessions whose certificates the identity watches.
func (g *Gateway) watched() []gatewaycore.Watched {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]gatewaycore.Watched, 0, len(g.sessions))
	for _, s := range g.sessions {
		out = append(out, s)
	}
	return out
}

// PeerCertificate implements gatewaycore.Watched.
func (s *session) PeerCertificate() *x509.Certificate { return s.peer.Certificate }

// Cut implements gatewaycore.Watched: the session ends with ReasonRevoked.
func (s *session) Cut(why, detail string) {
	leaf := s.peer.Certificate
	s.g.log.Warn("p2s client certificate "+why+", cutting the session", "client", s.name,
		"serial", tlspolicy.FormatSerial(leaf.SerialNumber), "not_after", leaf.NotAfter)
	s.sess.Close(control.ReasonRevoked, detail)
}

// session is one client's control session.
type session struct {
	g    *Gateway
	conn *tls.Conn
	sess *control.Session

	// Set by admit, read after it.
	name     string
	owner    *gatewaycore.Owner // holds the client's WireGuard key
	group    Group
	peer     *control.Peer
	pub      tunnel.PublicKey
	pc       tunnel.PeerConfig
	addrs    []netip.Addr
	attached bool
	since    time.Time

	// keepalive is whether the client's WireGuard keepalive is on; only
	// the session's goroutine touches it.
	keepalive bool
}

// admit decides on a client.
func (s *session) admit(ctx context.Context, p *control.Peer) (*control.Admission, error) {
	g := s.g
	s.peer = p // names the client in a refusal
	if p.Kind != control.KindClient {
		return nil, control.Refuse(control.ReasonIdentity, "%s is a %s; this port serves point-to-site clients", p.Identity, p.Kind)
	}
	if ref := g.opts.Revocation.Check([]*x509.Certificate{p.Certificate}); ref != nil {
		if ref.Reason == tlspolicy.ReasonRevoked {
			return nil, control.Refuse(control.ReasonRevoked, "certificate revoked: %v", ref.Err)
		}
		return nil, control.Refuse(control.ReasonIdentity, "%v", ref.Err)
	}
	name, err := clientName(p.Certificate)
	if err != nil {
		return nil, control.Refuse(control.ReasonIdentity, "%v", err)
	}
	rec, err := g.opts.Store.Client(ctx, name)
	if errors.Is(err, p2s.ErrNotFound) {
		return nil, control.Refuse(control.ReasonIdentity, "client %q did not enroll with this gateway", name)
	}
	if errors.Is(err, p2s.ErrUnreachable) {
		return nil, control.Refuse(control.ReasonStoreUnreachable, "%v", err)
	}
	if err != nil {
		g.log.Error("p2s client record unreadable", "client", name, "error", err.Error())
		return nil, control.Refuse(control.ReasonInternal, "the gateway cannot read its client records")
	}
	gr, ok := g.group(rec.Group)
	if !ok {
		return nil, control.Refuse(control.ReasonIdentity, "client %q is in group %q, which this gateway does not allow", name, rec.Group)
	}
	owner := gatewaycore.NewOwner("client " + name)
	if err := g.peers.Check(owner, tunnel.PublicKey(p.WireGuardKey)); err != nil {
		// The client is not told who holds the key.
		return nil, control.Refuse(control.ReasonKeyInUse, "WireGuard key %s is bound to another client or device", tunnel.PublicKey(p.WireGuardKey))
	}
	addrs, err := g.opts.Pool.Acquire(ctx, name)
	if errors.Is(err, pool.ErrExhausted) {
		return nil, control.Refuse(control.ReasonPoolExhausted, "%v", err)
	}
	if errors.Is(err, p2s.ErrUnreachable) {
		return nil, control.Refuse(control.ReasonStoreUnreachable, "%v", err)
	}
	if err != nil {
		g.log.Error("p2s lease failed", "client", name, "error", err.Error())
		return nil, control.Refuse(control.ReasonInternal, "no address could be leased")
	}
	if err := g.claim(ctx, name); err != nil {
		return nil, err
	}
	s.name, s.owner, s.group, s.addrs = name, owner, gr, addrs
	s.pub = tunnel.PublicKey(p.WireGuardKey)
	allowed := make([]netip.Prefix, len(addrs))
	for i, a := range addrs {
		allowed[i] = netip.PrefixFrom(a, a.BitLen())
	}
	return &control.Admission{AllowedPrefixes: allowed, Assignment: &control.Assignment{
		Addresses: addrs, Routes: gr.routes(g.opts.SitePrefixes), DNSServers: gr.DNSServers, SearchDomains: gr.SearchDomains,
	}}, nil
}

// install puts a rotation's PSK into WireGuard; epoch 1 makes the session
// the client's current one and creates its peer.
func (s *session) install(ctx context.Context, p *control.Peer, epoch uint64, psk pqpsk.PSK) error {
	g := s.g
	key := tunnel.PresharedKey(psk)
	g.mu.Lock()
	defer g.mu.Unlock()
	if epoch == 1 {
		if err := g.peers.Check(s.owner, s.pub); err != nil {
			return fmt.Errorf("install PSK epoch 1: %w", err)
		}
		if old := g.sessions[s.name]; old != nil && old != s {
			old.sess.Close(control.ReasonShutdown, superseded)
			if err := g.peers.Release(old.owner, old.pub); err != nil {
				g.log.Error("removing superseded peer failed", "client", s.name, "error", err.Error())
			}
		}
		g.sessions[s.name] = s
		g.connects++
		s.attached, s.since = true, time.Now()
		// No keepalive yet: dataPlaneHeard turns it on (see startKeepalive).
		s.pc = tunnel.PeerConfig{PublicKey: s.pub, AllowedIPs: p.Routes.Accepted}
	} else if g.sessions[s.name] != s {
		return errors.New("session is no longer the client's: " + superseded)
	}
	s.pc.PresharedKey = &key
	if err := g.peers.Set(s.owner, s.pc); err != nil {
		return fmt.Errorf("install PSK epoch %d: %w", epoch, err)
	}
	if epoch == 1 {
		if err := g.iso.add(ctx, s.group, s.addrs); err != nil {
			g.log.Error("p2s isolation set update failed", "client", s.name, "error", err.Error())
		}
		g.announce(s.name, s.addrs)
		g.log.Info("p2s client connected", "client", s.name, "group", s.group.Name, "addresses", fmt.Sprint(s.addrs),
			"remote_addr", s.conn.RemoteAddr().String(), "public_key", s.pub.String())
	}
	return nil
}

// finish records how a session ended and removes its peer.
func (s *session) finish(err error) {
	g := s.g
	reason, detail, byPeer := control.Outcome(err, s.attached)
	if byPeer {
		detail = "client says: " + detail
	}
	identity := ""
	if s.peer != nil {
		identity = s.peer.Identity
	}
	if !s.attached {
		if g.ctx.Err() == nil {
			g.refusals.Record(s.conn.RemoteAddr().String(), identity, reason, detail)
		}
		if s.name != "" {
			g.release(s.name)
		}
		return
	}
	g.mu.Lock()
	current := g.sessions[s.name] == s
	if current {
		g.withdraw(s.name, s.addrs)
		delete(g.sessions, s.name)
		if err := g.peers.Release(s.owner, s.pub); err != nil {
			g.log.Error("removing p2s peer failed", "client", s.name, "error", err.Error())
		}
	}
	g.mu.Unlock()
	if current {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := g.iso.del(ctx, s.group, s.addrs); err != nil {
			g.log.Error("p2s isolation set update failed", "client", s.name, "error", err.Error())
		}
		cancel()
		g.release(s.name)
		g.seen(s.name)
		g.log.Info("p2s client disconnected", "client", s.name, "reason", reason, "detail", detail)
	}
}

// Status reports the gateway and its connected clients, sorted by name.
func (g *Gateway) Status() *status.P2S {
	st := &status.P2S{Interface: g.dev.Name(), PublicKey: g.dev.PublicKey().String(), Control: g.ctrlLn.Addr().String(),
		Transports: multi.Names(g.opts.Transports), PoolSize: g.opts.Pool.Size(), Leases: g.opts.Pool.InUse(), Clients: []status.P2SClient{}}
	for _, p := range g.opts.Pool.Prefixes() {
		st.Pools = append(st.Pools, p.String())
	}
	byKey, err := g.peers.ByKey()
	if err != nil {
		g.log.Debug("device status", "error", err.Error())
	}
	g.mu.Lock()
	ss := make([]*session, 0, len(g.sessions))
	for _, s := range g.sessions {
		ss = append(ss, s)
	}
	statics := make([]p2s.Static, 0, len(g.statics))
	for _, s := range g.statics {
		statics = append(statics, s)
	}
	g.mu.Unlock()
	st.Refusals = g.refusals.List()
	sort.Slice(ss, func(i, j int) bool { return ss[i].name < ss[j].name })
	for _, s := range ss {
		cs := status.P2SClient{Name: s.name, Identity: s.peer.Identity, Group: s.group.Name, PublicKey: s.pub.String(),
			Since: s.since, CertExpiry: s.peer.Certificate.NotAfter}
		for _, a := range s.addrs {
			cs.Addresses = append(cs.Addresses, a.String())
		}
		for _, r := range s.group.routes(g.opts.SitePrefixes) {
			cs.Routes = append(cs.Routes, r.String())
		}
		sst := s.sess.Status()
		cs.PSKEpoch, cs.PSKID = sst.Epoch, sst.PSKID
		if ps, ok := byKey[s.pub]; ok {
			cs.Endpoint, cs.LastHandshake, cs.RxBytes, cs.TxBytes = ps.Endpoint, ps.LastHandshake, ps.RxBytes, ps.TxBytes
			cs.Transport = transport.SchemeOf(ps.Endpoint)
		}
		st.Clients = append(st.Clients, cs)
	}
	sort.Slice(statics, func(i, j int) bool { return statics[i].Name < statics[j].Name })
	for _, s := range statics {
		cs := status.P2SClient{Name: s.Name, Group: s.Group, Static: true, PublicKey: tunnel.PublicKey(s.PublicKey).String(), Since: s.Created}
		for _, a := range s.Addresses {
			cs.Addresses = append(cs.Addresses, a.String())
		}
		if gr, ok := g.group(s.Group); ok {
			for _, r := range gr.routes(g.opts.SitePrefixes) {
				cs.Routes = append(cs.Routes, r.String())
			}
		}
		if ps, ok := byKey[tunnel.PublicKey(s.PublicKey)]; ok {
			cs.Endpoint, cs.LastHandshake, cs.RxBytes, cs.TxBytes = ps.Endpoint, ps.LastHandshake, ps.RxBytes, ps.TxBytes
			cs.Transport = transport.SchemeOf(ps.Endpoint)
		}
		st.Statics = append(st.Statics, cs)
	}
	return st
}
