// Package client is the laptop side of point-to-site. A Client connects to
// the gateway of one profile (see Enroll) over the mTLS control channel,
// receives its address, routes, DNS and the gateway's transports, and runs
// a WireGuard device on a TUN interface until its context ends.
//
// # Transports
//
// It tries the gateway's transports in the profile's order (udp, quic, tls)
// under one transport.Monitor: the client sends a probe through the tunnel
// every second, the gateway's device answers it, and a transport counts as
// working while the answers come. When none comes for 5 s (the path died
// in either direction or both) the next transport is tried, keeping the
// WireGuard session, so a blocked transport is left within about 6 s. An
// idle tunnel never moves: the probes are its traffic. From a fallback
// transport it rechecks the first one after 20 s (doubling up to 40 s
// while it keeps failing) and stays there once it answers; a failed
// recheck holds traffic toward the gateway up for at most 2 s. Status says
// connected only while the answers come, degraded otherwise, with why.
//
// # Routes and DNS
//
// The routes the gateway pushes go into the TUN interface (a default route
// as its two halves, with a host route that keeps the gateway itself on the
// original path); DNS goes to systemd-resolved through resolvectl where it
// runs, else into resolv.conf, whose original is moved aside and moved back.
// What was changed outside the interface is recorded in the profile's
// StateFile first, so that a crash is repaired by the next start or by
// Restore.
//
// # Fail closed
//
// The split-tunnel routes of a session are recorded in the profile's
// GuardFile and guarded by a failclosed block on the TUN interface: while
// the client connects or reconnects, and after it crashed, traffic to them
// is rejected rather than sent in clear on the laptop's network; the next
// start puts the block back before it dials. With Options.Lockdown (or the
// profile's lockdown) nothing leaves at all but through the tunnel, to the
// gateway, on loopback, DHCP and IPv6 neighbour discovery. A clean stop
// lifts the block; Restore lifts one a crashed client left.
//
// # Staying connected
//
// The control session counts the gateway's answers to the probes as
// hearing from it: it pings over the control channel after 2 s without
// either, and every 8 s to check the control connection itself; it gives
// up after 8 s of silence on both, or a ping unanswered for 8 s; the
// client then dials again with backoff (0.5 to 5 s), forever. So link
// down/up, a new underlay address, or the process stopped for a minute
// (SIGSTOP) and continued all end with the client reconnected by itself,
// with the same address (the gateway keeps its lease).
//
// # Several gateways
//
// A profile from gateways that share one store lists them all (the
// enrolled one first, then Profile.Gateways). The client dials them in
// turn: after a session ended or a dial failed it dials the next one. A
// gateway whose process died closes the control connection, so the next
// one is dialed at once; one that went silent (its host died, or the path
// to it) is given up by the path monitor once nothing answered over any
// transport for 7 s (transport.MonitorConfig.GiveUpAfter). The lease of
// the client's address is the client's in the store, so every gateway
// assigns the same address.
//
// # Renewal
//
// At two thirds of its certificate's lifetime the client asks the gateway's
// renewal endpoint, over mTLS with the current certificate, for a new one
// for a freshly generated key, and uses it from the next session on.
package client

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"intransit/tlspolicy"
	"intransit/tunnel"
	"intransit/tunnel/control"
	"intransit/tunnel/failclosed"
	"intransit/tunnel/pqpsk"
	"intransit/tunnel/transport"
	"intransit/tunnel/transport/multi"
	"intransit/tunnel/transport/registry"
)

// Timing of the control channel and the dial loop.
const (
	controlKeepalive = 2 * time.Second
	controlDeadAfter = 8 * time.Second
	dialTimeout      = 5 * time.Second
	backoffMin       = 500 * time.Millisecond
	backoffMax       = 5 * time.Second
	pollEvery        = 100 * time.Millisecond
	peerKeepalive    = time.Second
)

// DefaultInterface is the client's TUN interface name.
const DefaultInterface = "itc0"

// Options configure a Client.
type Options struct {
	// Dir is the profile directory.
	Dir string
	// Interface is the TUN interface name (DefaultInterface when empty).
	Interface string
	// UnderlayMTU is the MTU of the path to the gateway
	// (transport.DefaultPathMTU when 0, at least transport.MinPathMTU): QUIC
	// packets, the TCP segments of the control channel and the tls
	// transport, and the inner MTU are sized to it. Where the inner MTU is
	// below IPv6's 1280, IPv6 inside the tunnel is refused (no IPv6 address
	// or route), with the reason logged.
	UnderlayMTU int
	// DNSMode is one of the DNS constants (DNSAuto when empty), and
	// ResolvConf the file DNSResolvConf replaces (/etc/resolv.conf when
	// empty).
	DNSMode    string
	ResolvConf string
	// Path tunes the path monitor (its Endpoints come from the gateway;
	// zero durations take the transport package's defaults).
	Path transport.MonitorConfig
	// Lockdown keeps every packet but the tunnel's own from leaving while
	// the client runs, connected or not (also set by the profile's
	// lockdown); see the package documentation.
	Lockdown bool
	// Guard keeps the fail-closed block (failclosed.NFT when nil).
	Guard failclosed.Kernel
	// Logger receives the client's logs; nil discards them.
	Logger *slog.Logger
}

// Client is one profile's connection to its gateway.
type Client struct {
	opts    Options
	log     *slog.Logger
	profile *Profile
	tlsProf *tlspolicy.Profile
	mat     atomic.Pointer[Material]
	gateway atomic.Uint32 // index of the gateway dialed (hosts)
	net     *netconf
	guard   *guard

	mu       sync.Mutex
	dev      *tunnel.Device
	addrs    []netip.Addr
	watch    *transport.Watch
	pc       tunnel.PeerConfig
	st       Status
	sess     *control.Session
	sessions uint64
	revoked  *Revocation
}

// New loads the profile in opts.Dir.
func New(opts Options) (*Client, error) {
	if opts.Interface == "" {
		opts.Interface = DefaultInterface
	}
	if opts.UnderlayMTU == 0 {
		opts.UnderlayMTU = transport.DefaultPathMTU
	}
	if err := registry.CheckPathMTU(opts.UnderlayMTU); err != nil {
		return nil, fmt.Errorf("underlay MTU: %w", err)
	}
	if opts.DNSMode == "" {
		opts.DNSMode = DNSAuto
	}
	if !slices.Contains([]string{DNSAuto, DNSResolvectl, DNSResolvConf, DNSOff}, opts.DNSMode) {
		return nil, fmt.Errorf("DNS mode %q: want %s, %s, %s or %s", opts.DNSMode, DNSAuto, DNSResolvectl, DNSResolvConf, DNSOff)
	}
	if opts.ResolvConf == "" {
		opts.ResolvConf = "/etc/resolv.conf"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p, err := LoadProfile(opts.Dir)
	if err != nil {
		return nil, err
	}
	m, err := LoadMaterial(opts.Dir)
	if err != nil {
		return nil, err
	}
	if r, err := readRevoked(opts.Dir, m.Leaf); err != nil || r != nil {
		if err != nil {
			return nil, err
		}
		return nil, &RevokedError{Revocation: *r}
	}
	tp, err := tlspolicy.LoadProfile(p.TLSProfile)
	if err != nil {
		return nil, err
	}
	c := &Client{opts: opts, log: log, profile: p, tlsProf: tp,
		net: &netconf{stateFile: stateFileIn(opts.Dir), dnsMode: opts.DNSMode, resolvConf: opts.ResolvConf, iface: opts.Interface}}
	if opts.Guard == nil {
		opts.Guard = failclosed.NFT{}
	}
	c.guard = newGuard(opts.Guard, opts.Dir, opts.Interface, opts.Lockdown || p.Lockdown)
	c.mat.Store(m)
	c.st = Status{Profile: filepath.Base(opts.Dir), Name: p.Name, Group: p.Group, Gateway: p.Gateway, State: StateConnecting, CertExpiry: m.Leaf.NotAfter}
	return c, nil
}

// Restore undoes what a client of the profile in dir left applied (after
// a crash); nothing recorded is not an error.
func Restore(ctx context.Context, dir string) error {
	n := &netconf{stateFile: stateFileIn(dir)}
	return errors.Join(n.restoreLeftovers(ctx), liftRecorded(ctx, failclosed.NFT{}, dir))
}

// Run connects and stays connected until ctx ends, then removes the
// interface and restores routes and DNS. It returns nil after a clean
// stop, and a *RevokedError when the gateway revoked the certificate: then
// it does not reconnect.
func (c *Client) Run(ctx context.Context) error {
	// Before anything else, the block of the last session (and lockdown).
	if err := c.guard.start(ctx, c.gatewayAddrs(ctx)...); err != nil {
		return fmt.Errorf("fail-closed block: %w", err)
	}
	if err := c.net.restoreLeftovers(ctx); err != nil {
		return fmt.Errorf("settings left by an earlier run: %w", err)
	}
	defer c.teardown()
	var wg sync.WaitGroup
	defer wg.Wait()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(2)
	go func() { defer wg.Done(); c.renewLoop(rctx) }()
	go func() { defer wg.Done(); c.guard.wall.Keep(rctx, guardRepairEvery, c.log) }()
	backoff := backoffMin
	for ctx.Err() == nil {
		established := c.session(ctx)
		if err := c.stopRevoked(); err != nil {
			return err
		}
		if ctx.Err() != nil {
			break
		}
		if established {
			backoff = backoffMin
		}
		c.nextGateway()
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		backoff = min(2*backoff, backoffMax)
	}
	return nil
}

// teardown closes the device and restores the system.
func (c *Client) teardown() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.mu.Lock()
	dev := c.dev
	c.dev = nil
	if c.st.State != StateRevoked {
		c.st.State = StateDisconnected
	}
	c.mu.Unlock()
	if dev != nil {
		if err := dev.Close(); err != nil {
			c.log.Error("closing the interface", "error", err.Error())
		}
	}
	if err := c.net.restore(ctx); err != nil {
		c.log.Error("restoring routes and DNS failed; run intransit p2s disconnect", "error", err.Error())
	} else {
		c.log.Info("routes and DNS restored")
	}
	if err := c.guard.lift(ctx); err != nil {
		c.log.Error("lifting the fail-closed block failed; run intransit p2s disconnect", "error", err.Error())
	}
}

// gatewayAddr resolves the gateway host dialed now.
func (c *Client) gatewayAddr(ctx context.Context) (netip.Addr, error) {
	return c.resolve(ctx, c.host())
}

// resolve resolves a gateway host.
func (c *Client) resolve(ctx context.Context, host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap(), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		// A lockdown or a dead tunnel may hold DNS back: the last address.
		if gws := c.guard.gateways(); len(gws) > 0 {
			return gws[0], nil
		}
		return netip.Addr{}, fmt.Errorf("gateway %s: %v", host, err)
	}
	return ips[0].Unmap(), nil
}

// tlsOptions are the TLS options toward the gateway with the current
// material.
func (c *Client) tlsOptions() tlspolicy.Options {
	m := c.mat.Load()
	return tlspolicy.Options{Profile: c.tlsProf, Certificate: &tlspolicy.StaticCertificate{Cert: m.Cert},
		CAs: &tlspolicy.StaticCAs{Set: tlspolicy.NewCASet(m.CAs...)}, ServerName: c.host(), Logger: c.log}
}

// session runs one control session to its end and reports whether it got
// established.
func (c *Client) session(ctx context.Context) bool {
	gw, err := c.gatewayAddr(ctx)
	if err != nil {
		c.setDown("unreachable", err.Error())
		return false
	}
	addr := netip.AddrPortFrom(gw, c.profile.ControlPort)
	cfg, err := tlspolicy.ControlClientConfig(c.tlsOptions())
	if err != nil {
		c.setDown("internal", err.Error())
		return false
	}
	conn, err := control.Dialer(dialTimeout, c.opts.UnderlayMTU).DialContext(ctx, "tcp", addr.String())
	if err != nil {
		if ctx.Err() == nil {
			c.setDown("unreachable", err.Error())
			c.log.Debug("control dial failed", "addr", addr.String(), "error", err.Error())
		}
		return false
	}
	tc := tls.Client(conn, cfg)
	m := c.mat.Load()
	signer, ok := m.Cert.PrivateKey.(crypto.Signer)
	if !ok {
		conn.Close()
		c.setDown("internal", "the client key cannot sign")
		return false
	}
	run := &sessionRun{c: c, gateway: gw, leaf: m.Leaf}
	sess, err := control.New(tc, control.Config{
		Role: control.Initiator, Kind: control.KindClient, WireGuardKey: publicKey(m.WireGuard), Signer: signer,
		Admit: run.admit, InstallPSK: run.install, KeepaliveInterval: controlKeepalive, DeadAfter: controlDeadAfter,
		Liveness: c.dataPlaneHeard,
		Logger:   c.log.With("component", "control"),
	})
	if err != nil {
		conn.Close()
		c.setDown("internal", err.Error())
		return false
	}
	c.mu.Lock()
	c.sess = sess
	c.mu.Unlock()
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	run.start = func() {
		wg.Add(1)
		go func() { defer wg.Done(); c.follow(sctx, run) }()
	}
	err = sess.Run(sctx)
	cancel()
	wg.Wait()
	c.endSession(run, err)
	return run.established
}

// sessionRun is the state of one control session.
type sessionRun struct {
	c           *Client
	gateway     netip.Addr
	gwKey       tunnel.PublicKey
	leaf        *x509.Certificate // the client certificate presented
	established bool
	start       func()
}

// setDown records a failed attempt.
func (c *Client) setDown(reason, detail string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st.State != StateConnecting || c.st.Reason != reason {
		c.st.Since = time.Now()
	}
	c.st.State, c.st.Reason, c.st.Detail = StateConnecting, reason, detail
	c.st.Transport, c.st.Endpoint = "", ""
}

// admit checks the gateway's Hello and Assignment and readies the device.
func (r *sessionRun) admit(ctx context.Context, p *control.Peer) (*control.Admission, error) {
	c := r.c
	a := p.Assignment
	if a == nil || len(a.Addresses) == 0 {
		return nil, control.Refuse(control.ReasonProtocol, "no address assigned")
	}
	var eps []string
	for _, name := range c.profile.Transports {
		for _, t := range p.Transports {
			if t.Name == name {
				eps = append(eps, transport.FormatEndpoint(t.Name, t.Endpoint))
				break
			}
		}
	}
	if len(eps) == 0 {
		return nil, control.Refuse(control.ReasonUnexpected, "the gateway advertises none of the transports this client uses (gateway offers %d transports, we use %v)", len(p.Transports), c.profile.Transports)
	}
	mon, err := transport.NewMonitor(c.monitorConfig(eps), time.Now())
	if err != nil {
		return nil, control.Refuse(control.ReasonInternal, "path monitor: %v", err)
	}
	mtu, err := registry.FallbackMTU(c.profile.Transports, c.opts.UnderlayMTU)
	if err != nil {
		return nil, control.Refuse(control.ReasonUnexpected, "%v", err)
	}
	addrs, allowed := a.Addresses, []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	if why := registry.IPv6Error(mtu, c.opts.UnderlayMTU); why != nil {
		// IPv6 inside the tunnel is refused: no IPv6 address on the
		// interface, no IPv6 route accepted from the gateway.
		addrs = slices.DeleteFunc(slices.Clone(addrs), netip.Addr.Is6)
		allowed = allowed[:1]
		c.log.Warn("IPv6 inside the tunnel refused", "reason", why.Error())
		if len(addrs) == 0 {
			return nil, control.Refuse(control.ReasonUnexpected, "the gateway assigned only IPv6 addresses and %v", why)
		}
	}
	if err := c.ensureDevice(ctx, addrs, mtu); err != nil {
		c.log.Error("tunnel interface", "error", err.Error())
		return nil, control.Refuse(control.ReasonInternal, "the client could not set up its interface")
	}
	r.gwKey = tunnel.PublicKey(p.WireGuardKey)
	c.mu.Lock()
	c.watch = transport.NewWatch(mon, clientPath{c}, c.log.With("component", "path"))
	c.mu.Unlock()
	return &control.Admission{AllowedPrefixes: allowed}, nil
}

// ensureDevice opens the TUN device of MTU mtu with the assigned
// addresses, or reopens it when they changed.
func (c *Client) ensureDevice(ctx context.Context, addrs []netip.Addr, mtu int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dev != nil && slices.Equal(c.addrs, addrs) {
		return nil
	}
	if c.dev != nil {
		c.dev.Close()
		c.dev = nil
	}
	bind, err := c.newBind()
	if err != nil {
		return err
	}
	var prefixes []netip.Prefix
	for _, a := range addrs {
		prefixes = append(prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	dev, err := tunnel.Open(ctx, tunnel.Config{Name: c.opts.Interface, MTU: mtu, Addresses: prefixes,
		PrivateKey: c.mat.Load().WireGuard, Bind: bind, Logger: c.log.With("component", "wireguard")})
	if err != nil {
		return err
	}
	c.dev, c.addrs = dev, slices.Clone(addrs)
	c.net.routes = nil
	return nil
}

// newBind builds the client's Bind over the profile's transports. The
// quic and tls transports verify the gateway against the pinned CA and
// present the client certificate.
func (c *Client) newBind() (*multi.Bind, error) {
	var members []multi.Member
	for _, name := range c.profile.Transports {
		t, err := registry.Lookup(name)
		if err != nil {
			return nil, err
		}
		opts := transport.Options{PathMTU: c.opts.UnderlayMTU, Logger: c.log.With("component", name)}
		if t.TLS {
			if opts.ClientTLS, err = tlspolicy.ClientConfig(c.tlsOptions()); err != nil {
				return nil, err
			}
		}
		b, err := t.New(opts)
		if err != nil {
			return nil, fmt.Errorf("%s transport: %w", name, err)
		}
		members = append(members, multi.Member{Bind: b})
	}
	return multi.New(members...)
}

// install puts a rotation's PSK in place; epoch 1 creates the gateway peer
// and applies routes and DNS.
func (r *sessionRun) install(ctx context.Context, p *control.Peer, epoch uint64, psk pqpsk.PSK) error {
	c := r.c
	key := tunnel.PresharedKey(psk)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dev == nil {
		return errors.New("the interface is gone")
	}
	c.pc.PresharedKey = &key
	if epoch > 1 {
		if err := c.dev.SetPeer(c.pc); err != nil {
			return fmt.Errorf("install PSK epoch %d: %w", epoch, err)
		}
		c.st.PSKEpoch, c.st.PSKInstalled = epoch, time.Now()
		return nil
	}
	c.pc = tunnel.PeerConfig{PublicKey: r.gwKey, PresharedKey: &key, Endpoint: c.watch.Current(),
		AllowedIPs: p.Routes.Accepted, PersistentKeepalive: peerKeepalive}
	if err := c.freshPeer(); err != nil {
		return err
	}
	a := p.Assignment
	full := slices.ContainsFunc(p.Routes.Accepted, func(pr netip.Prefix) bool { return pr.Bits() == 0 })
	if err := c.guard.connected(ctx, p.Routes.Accepted, r.gateway); err != nil {
		c.log.Error("fail-closed block", "error", err.Error())
		return err
	}
	if err := c.net.apply(ctx, p.Routes.Accepted, r.gateway, a.DNSServers, a.SearchDomains, full); err != nil {
		c.log.Error("applying routes and DNS failed", "error", err.Error())
		return err
	}
	r.established = true
	c.sessions++
	c.st.State, c.st.Reason, c.st.Detail, c.st.Since = StateConnected, "", "", time.Now()
	c.st.Addresses, c.st.Routes, c.st.DNSServers, c.st.SearchDomains = nil, nil, nil, a.SearchDomains
	for _, ad := range a.Addresses {
		c.st.Addresses = append(c.st.Addresses, ad.String())
	}
	for _, pr := range p.Routes.Accepted {
		c.st.Routes = append(c.st.Routes, pr.String())
	}
	for _, s := range a.DNSServers {
		c.st.DNSServers = append(c.st.DNSServers, s.String())
	}
	c.st.Gateway, c.st.GatewayIdentity, c.st.PSKEpoch, c.st.PSKInstalled, c.st.Sessions = c.host(), p.Identity, epoch, time.Now(), c.sessions
	c.log.Info("connected", "gateway", p.Identity, "addresses", fmt.Sprint(a.Addresses), "routes", fmt.Sprint(p.Routes.Accepted),
		"dns", fmt.Sprint(a.DNSServers), "endpoint", c.pc.Endpoint)
	r.start()
	return nil
}

// freshPeer re-creates the gateway peer so that a new handshake runs on
// its endpoint; the caller holds c.mu.
func (c *Client) freshPeer() error {
	if err := c.dev.RemovePeer(c.pc.PublicKey); err != nil && !errors.Is(err, tunnel.ErrNoPeer) {
		return fmt.Errorf("gateway peer: %w", err)
	}
	if err := c.dev.AddPeer(c.pc); err != nil {
		return fmt.Errorf("gateway peer: %w", err)
	}
	return nil
}

// follow runs the path monitor while the session lasts.
func (c *Client) follow(ctx context.Context, _ *sessionRun) {
	c.mu.Lock()
	w := c.watch
	c.mu.Unlock()
	if w != nil {
		w.Run(ctx)
		c.gaveUp(w)
	}
}

// endSession removes the gateway peer after a session ended; the
// interface, routes and DNS stay for the next session.
func (c *Client) endSession(r *sessionRun, err error) {
	reason, detail := "closed", ""
	var se *control.SessionError
	switch {
	case errors.As(err, &se):
		reason, detail = se.Reason.String(), se.Detail
		if se.Remote {
			detail = "gateway says: " + detail
		}
	case tlspolicy.IsRefusal(err):
		reason, detail = string(tlspolicy.ReasonOf(err)), err.Error()
	case err != nil:
		reason, detail = "connection", err.Error()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sess, c.watch = nil, nil
	if r.established && c.dev != nil {
		if err := c.dev.RemovePeer(c.pc.PublicKey); err != nil && !errors.Is(err, tunnel.ErrNoPeer) && !errors.Is(err, tunnel.ErrClosed) {
			c.log.Error("removing the gateway peer", "error", err.Error())
		}
	}
	c.st.State, c.st.Reason, c.st.Detail, c.st.Since = StateConnecting, reason, detail, time.Now()
	c.st.Transport, c.st.Endpoint = "", ""
	if revokedBy(err, r.leaf, c.mat.Load().Leaf, time.Now()) {
		c.revoked = &Revocation{Serial: r.leaf.SerialNumber.Text(16), At: c.st.Since, Detail: detail}
		c.st.State = StateRevoked
		c.log.Error("the gateway revoked this client's certificate; not reconnecting", "serial", c.revoked.Serial, "detail", detail)
		return
	}
	if r.established {
		c.log.Warn("disconnected; reconnecting", "reason", reason, "detail", detail)
	} else {
		c.log.Warn("connection refused or failed", "reason", reason, "detail", detail)
	}
}

func publicKey(k tunnel.PrivateKey) [32]byte {
	return [32]byte(k.PublicKey())
}

// portString formats a port.
func portString(p uint16) string { return strconv.Itoa(int(p)) }
