package s2s

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"intransit/internal/gatewaycore"
	"intransit/internal/status"
	"intransit/tlspolicy"
	"intransit/tunnel"
	"intransit/tunnel/control"
	"intransit/tunnel/pqpsk"
	"intransit/tunnel/transport"
)

// Timing of the dial loop and of the data plane.
const (
	dialTimeout       = 5 * time.Second
	backoffMin        = 500 * time.Millisecond
	backoffMax        = 5 * time.Second
	peerKeepalive     = 25 * time.Second
	superseded        = "superseded by a new session from the same remote"
	tieBreakDetail    = "both gateways dial each other;"
	reasonUnreachable = "unreachable"
	reasonDataPlane   = "data_plane"
	// changedDetail is the detail of ReasonRemoved when the remote's
	// configuration changed: the remote restarts at once, it is not gone.
	changedDetail = "configuration changed"
)

// remote is one configured remote gateway and its current session.
type remote struct {
	g      *Gateway
	cfg    Remote
	owner  *gatewaycore.Owner // holds the remote's WireGuard key
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	cur      *sessionState
	changed  chan struct{} // closed and replaced whenever cur changes
	state    string
	reason   string
	detail   string
	since    time.Time
	sessions uint64
	routes   []netip.Prefix // routes installed for the remote
	// dismissed is set when the remote ended an established session
	// itself because it no longer admits us (removed from its
	// configuration, our certificate revoked, our identity refused):
	// the next dial waits backoffMax, so that the reason it gave stays
	// the remote's state for a while instead of being overwritten at
	// once by the refusal of a redial.
	dismissed bool
}

func newRemote(g *Gateway, cfg Remote) *remote {
	ctx, cancel := context.WithCancel(g.ctx)
	r := &remote{g: g, cfg: cfg, owner: gatewaycore.NewOwner("remote " + cfg.Name), ctx: ctx, cancel: cancel, changed: make(chan struct{}),
		state: status.StateConnecting, since: time.Now()}
	if len(cfg.Control) == 0 {
		r.detail = "waiting for the remote to connect"
	}
	return r
}

// stop ends the remote: its session is closed with reason and its loop
// ends. The caller holds g.mu.
func (r *remote) stop(reason control.Reason, detail string) {
	r.mu.Lock()
	cur := r.cur
	r.mu.Unlock()
	if cur != nil {
		cur.sess.Close(reason, detail)
	}
	r.cancel()
}

// setState records a state change; the caller holds r.mu.
func (r *remote) setState(state, reason, detail string) {
	if r.state != state || r.reason != reason {
		r.since = time.Now()
	}
	r.state, r.reason, r.detail = state, reason, detail
}

// run dials the remote while it has no session, with backoff between
// failed attempts, until the remote is stopped. A remote without control
// addresses is only ever accepted.
func (r *remote) run() {
	if len(r.cfg.Control) == 0 {
		<-r.ctx.Done()
		return
	}
	o := r.g.id.Options(r.g.log)
	o.Allow = r.cfg.allow()
	clientCfg, err := tlspolicy.ControlClientConfig(o)
	if err != nil {
		r.g.log.Error("remote cannot be dialed", "remote", r.cfg.Name, "error", err.Error())
		r.mu.Lock()
		r.setState(status.StateDown, "internal", err.Error())
		r.mu.Unlock()
		<-r.ctx.Done()
		return
	}
	r.g.wg.Add(1)
	go func() { defer r.g.wg.Done(); r.handovers(clientCfg) }()
	backoff := backoffMin
	for {
		if !r.waitIdle() {
			return
		}
		if r.takeDismissed() {
			backoff = backoffMax
			if !r.sleep(backoff) {
				return
			}
			continue
		}
		established := false
		for _, addr := range r.cfg.Control {
			if r.dial(clientCfg, addr) {
				established = true
				break
			}
			if r.ctx.Err() != nil {
				return
			}
		}
		if established {
			backoff = backoffMin
		}
		if !r.sleep(backoff) {
			return
		}
		backoff = min(2*backoff, backoffMax)
	}
}

// takeDismissed reports whether the remote dismissed us since the last
// call (see remote.dismissed) and clears it.
func (r *remote) takeDismissed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.dismissed
	r.dismissed = false
	return d
}

// sleep waits between backoff/2 and backoff; it returns false when the
// remote is stopped.
func (r *remote) sleep(backoff time.Duration) bool {
	select {
	case <-r.ctx.Done():
		return false
	case <-time.After(backoff/2 + rand.N(backoff/2+1)):
		return true
	}
}

// waitIdle waits until the remote has no session (one it accepted may be
// running); it returns false when the remote is stopped.
func (r *remote) waitIdle() bool {
	for {
		r.mu.Lock()
		busy, ch := r.cur != nil, r.changed
		r.mu.Unlock()
		if !busy {
			return r.ctx.Err() == nil
		}
		select {
		case <-r.ctx.Done():
			return false
		case <-ch:
		}
	}
}

// dial runs one initiator session with the remote at addr to its end and
// reports whether it got established.
func (r *remote) dial(clientCfg *tls.Config, addr netip.AddrPort) bool {
	c, err := control.Dialer(dialTimeout, r.g.opts.PathMTU).DialContext(r.ctx, "tcp", addr.String())
	if err != nil {
		if r.ctx.Err() == nil {
			r.g.log.Debug("control dial failed", "remote", r.cfg.Name, "addr", addr.String(), "error", err.Error())
			r.mu.Lock()
			if r.cur == nil {
				r.setState(status.StateConnecting, reasonUnreachable, err.Error())
			}
			r.mu.Unlock()
		}
		return false
	}
	tc := tls.Client(c, clientCfg)
	ss := &sessionState{g: r.g, role: control.Initiator, conn: tc, remote: r}
	sess, err := control.New(tc, r.g.sessionConfig(control.Initiator, ss))
	if err != nil {
		r.g.log.Error("control session not started", "remote", r.cfg.Name, "error", err.Error())
		c.Close()
		return false
	}
	ss.sess = sess
	err = sess.Run(r.ctx)
	ss.finish(err)
	return ss.established
}

// attach makes ss the remote's session, superseding an older one; the
// caller holds r.mu.
func (r *remote) attach(ss *sessionState) {
	if old := r.cur; old != nil && old != ss {
		// Closed a moment later: the remote may otherwise hear the old
		// session end before it takes the new one and remove the peer in
		// between (a certificate handover, see handover.go).
		time.AfterFunc(supersedeGrace, func() { old.sess.Close(control.ReasonShutdown, superseded) })
		r.g.log.Info("session superseded", "remote", r.cfg.Name)
	}
	r.cur = ss
	close(r.changed)
	r.changed = make(chan struct{})
	r.sessions++
}

// detach removes ss if it is still the remote's session: the WireGuard
// peer and the routes go. It reports whether ss was current.
func (r *remote) detach(ss *sessionState) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != ss {
		return false
	}
	r.cur = nil
	close(r.changed)
	r.changed = make(chan struct{})
	if err := r.g.peers.Release(r.owner, ss.pub); err != nil {
		r.g.log.Error("removing peer failed", "remote", r.cfg.Name, "error", err.Error())
	}
	r.syncRoutes(nil)
	return true
}

// syncRoutes makes the remote's routes equal to want; the caller holds
// r.mu.
func (r *remote) syncRoutes(want []netip.Prefix) {
	var del []netip.Prefix
	for _, p := range r.routes {
		if !slices.Contains(want, p) {
			del = append(del, p)
		}
	}
	var add []netip.Prefix
	for _, p := range want {
		if !slices.Contains(r.routes, p) {
			add = append(add, p)
		}
	}
	if err := r.g.routes.remove(r, del); err != nil {
		r.g.log.Error("removing routes failed", "remote", r.cfg.Name, "error", err.Error())
	}
	if err := r.g.routes.add(r, add); err != nil {
		r.g.log.Error("adding routes failed", "remote", r.cfg.Name, "error", err.Error())
	}
	r.routes = slices.Clone(want)
	if len(add)+len(del) > 0 {
		r.g.log.Info("routes updated", "remote", r.cfg.Name, "routes", fmt.Sprint(want))
	}
}

// PeerCertificate implements gatewaycore.Watched.
func (ss *sessionState) PeerCertificate() *x509.Certificate { return ss.peer.Certificate }

// Cut implements gatewaycore.Watched: the session ends with ReasonRevoked
// (the protocol has no code of its own for an expired certificate: the
// peer hears "revoked" with the detail, our status says "expired").
func (ss *sessionState) Cut(why, detail string) {
	leaf := ss.peer.Certificate
	ss.g.log.Warn("peer certificate "+why+", cutting the session", "remote", ss.remote.cfg.Name,
		"serial", tlspolicy.FormatSerial(leaf.SerialNumber), "not_after", leaf.NotAfter, "detail", detail)
	ss.cut.Store(why)
	ss.sess.Close(control.ReasonRevoked, detail)
}

// status reports the remote.
func (r *remote) status(byKey map[tunnel.PublicKey]tunnel.PeerStatus) status.Peer {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := status.Peer{Name: r.cfg.Name, Identity: r.cfg.Identity, State: r.state, Reason: r.reason,
		Detail: r.detail, Since: r.since, Sessions: r.sessions}
	ss := r.cur
	if ss == nil || ss.peer == nil {
		return p
	}
	p.Role = ss.role.String()
	p.PublicKey = ss.pub.String()
	p.CertExpiry = ss.peer.Certificate.NotAfter
	for _, pr := range r.routes {
		p.Routes = append(p.Routes, pr.String())
	}
	st := ss.sess.Status()
	p.PSKEpoch, p.PSKID, p.PSKInstalled = st.Epoch, st.PSKID, st.PSKInstalled
	var h transport.Health
	if ss.watch != nil {
		h = ss.watch.Health()
		if p.State == status.StateUp && !h.Up {
			p.State, p.Reason, p.Detail = status.StateDegraded, reasonDataPlane, h.Reason
		}
	}
	if ps, ok := byKey[ss.pub]; ok {
		p.Endpoint, p.LastHandshake, p.RxBytes, p.TxBytes = ps.Endpoint, ps.LastHandshake, ps.RxBytes, ps.TxBytes
		p.Transport = transport.SchemeOf(ps.Endpoint)
	}
	return p
}

// sessionState is one control session, accepted or dialed.
type sessionState struct {
	g      *Gateway
	role   control.Role
	conn   *tls.Conn
	sess   *control.Session
	remote *remote // known from the start when dialed, at admission when accepted

	// Set during the session, read after Run returns or under remote.mu.
	identity    string       // the peer's certificate identity, once its Hello is in
	tieBreak    bool         // refused only because this gateway dials the remote itself
	cut         atomic.Value // string: "revoked" or "expired" when the certificate check cut the session
	peer        *control.Peer
	pub         tunnel.PublicKey
	pc          tunnel.PeerConfig
	monitor     *transport.Monitor
	watch       *transport.Watch
	stopWatch   context.CancelFunc
	established bool
	ownNotAfter time.Time // the expiry of our certificate when the session started
}

// sessionConfig is the control configuration of a session.
func (g *Gateway) sessionConfig(role control.Role, ss *sessionState) control.Config {
	ss.g = g
	own, err := g.id.Own()
	if err != nil {
		g.log.Error("own certificate unusable", "error", err.Error())
	}
	ss.ownNotAfter = own.NotAfter
	return control.Config{
		Role: role, Kind: control.KindGateway, WireGuardKey: g.dev.PublicKey(), Signer: own.Signer,
		Prefixes: g.opts.SitePrefixes, Transports: g.advertised(ss.conn.LocalAddr(), ss.remote),
		Admit: ss.admit, InstallPSK: ss.install,
		RotationPeriod: g.opts.PSKRotation, KeepaliveInterval: g.opts.Keepalive, DeadAfter: g.opts.DeadAfter,
		Metrics: g.opts.ControlMetrics,
		Logger:  g.log.With("component", "control", "role", role.String(), "remote_addr", ss.conn.RemoteAddr().String()),
	}
}

// advertised lists the data-plane endpoints for a remote that reached us
// at local: unspecified listen addresses become local's address. A dialing
// gateway lists first the transports it prefers for the remote r (the
// remote follows whichever the dialer's path monitor uses).
func (g *Gateway) advertised(local net.Addr, r *remote) []control.Transport {
	out := gatewaycore.Advertised(g.opts.Transports, local)
	if r != nil {
		rank := func(name string) int {
			if i := slices.Index(r.cfg.Transports, name); i >= 0 {
				return i
			}
			return len(r.cfg.Transports)
		}
		slices.SortStableFunc(out, func(x, y control.Transport) int { return rank(x.Name) - rank(y.Name) })
	}
	return out
}

// admit decides on the peer of a session.
func (ss *sessionState) admit(_ context.Context, p *control.Peer) (*control.Admission, error) {
	g := ss.g
	ss.identity = p.Identity
	if p.Kind != control.KindGateway {
		return nil, control.Refuse(control.ReasonIdentity, "%s is a %s, not a gateway", p.Identity, p.Kind)
	}
	r := ss.remote
	if r == nil {
		r = g.remoteFor(p.Certificate)
		if r == nil {
			return nil, control.Refuse(control.ReasonIdentity, "no remote gateway is configured for identity %s", p.Identity)
		}
		own, err := g.id.Own()
		if err != nil {
			return nil, control.Refuse(control.ReasonInternal, "own certificate: %v", err)
		}
		if len(r.cfg.Control) > 0 && own.Identity < r.cfg.Identity {
			ss.tieBreak = true
			return nil, control.Refuse(control.ReasonUnexpected, "%s %s dials %s", tieBreakDetail, own.Identity, r.cfg.Identity)
		}
		ss.remote = r
	} else if !r.cfg.matches(p.Certificate) {
		return nil, control.Refuse(control.ReasonIdentity, "%s is not %s", p.Identity, r.cfg.Identity)
	}
	if err := g.peers.Check(r.owner, tunnel.PublicKey(p.WireGuardKey)); err != nil {
		// The peer is not told who holds the key.
		return nil, control.Refuse(control.ReasonKeyInUse, "WireGuard key %s is bound to another remote gateway", tunnel.PublicKey(p.WireGuardKey))
	}
	if ss.role == control.Initiator {
		var eps []string
		for _, name := range r.cfg.Transports {
			for _, t := range p.Transports {
				if t.Name == name {
					eps = append(eps, transport.FormatEndpoint(t.Name, t.Endpoint))
					break
				}
			}
		}
		if len(eps) == 0 {
			return nil, control.Refuse(control.ReasonUnexpected, "no common transport: we use %v", r.cfg.Transports)
		}
		mon, err := transport.NewMonitor(transport.MonitorConfig{Endpoints: eps}, time.Now())
		if err != nil {
			return nil, control.Refuse(control.ReasonInternal, "path monitor: %v", err)
		}
		ss.monitor = mon
	}
	ss.peer = p
	ss.pub = tunnel.PublicKey(p.WireGuardKey)
	return &control.Admission{AllowedPrefixes: r.cfg.AllowedPrefixes}, nil
}

// install puts a rotation's PSK into WireGuard; epoch 1 creates the peer
// and its routes.
func (ss *sessionState) install(_ context.Context, p *control.Peer, epoch uint64, psk pqpsk.PSK) error {
	r := ss.remote
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil {
		return fmt.Errorf("remote %s was removed or replaced", r.cfg.Name)
	}
	key := tunnel.PresharedKey(psk)
	if epoch == 1 {
		r.attach(ss)
		ss.established = true
		ss.pc = tunnel.PeerConfig{PublicKey: ss.pub, AllowedIPs: p.Routes.Accepted}
		if ss.monitor != nil {
			// The dialing side installs first (before rotate-commit) and
			// chooses the transport: its path monitor starts the first
			// handshake, retrying quickly until the remote has the key.
			ss.pc.Endpoint = ss.monitor.Current()
		} else {
			// The accepting side installs last, without an endpoint: it
			// learns the dialer's from the dialer's first handshake and
			// follows the dialer's choice (roaming) from then on. It never
			// starts a handshake of its own toward the dialer: one crossing
			// the dialer's (both sides initiating at once, as a slow first
			// tls or quic connection makes likely) leaves each side waiting
			// for the other's data on a keypair the other dropped, until
			// WireGuard retries after 15 s.
			ss.pc.PersistentKeepalive = peerKeepalive
			mon, err := transport.NewMonitor(transport.MonitorConfig{}, time.Now())
			if err != nil {
				return fmt.Errorf("path monitor: %w", err)
			}
			ss.monitor = mon
		}
	} else if r.cur != ss {
		return fmt.Errorf("session is no longer the remote's (%s)", superseded)
	}
	ss.pc.PresharedKey = &key
	if err := r.g.peers.Set(r.owner, ss.pc); err != nil {
		return fmt.Errorf("install PSK epoch %d: %w", epoch, err)
	}
	if epoch == 1 {
		r.syncRoutes(p.Routes.Accepted)
		r.setState(status.StateUp, "", "")
		for _, rp := range p.Routes.Refused {
			r.g.log.Warn("offered prefix not routed", "remote", r.cfg.Name, "prefix", rp.Prefix.String(), "why", rp.Why)
		}
		r.g.log.Info("tunnel up", "remote", r.cfg.Name, "identity", p.Identity, "role", ss.role.String(),
			"public_key", ss.pub.String(), "routes", fmt.Sprint(p.Routes.Accepted), "endpoint", ss.pc.Endpoint)
		ss.watch = transport.NewWatch(ss.monitor, sessionPath{ss}, r.g.log.With("component", "path", "remote", r.cfg.Name))
		wctx, cancel := context.WithCancel(r.ctx)
		ss.stopWatch = cancel
		// Counted: install runs in a session goroutine that is.
		r.g.wg.Add(1)
		go func() { defer r.g.wg.Done(); ss.watch.Run(wctx) }()
	}
	return nil
}

// finish records how a session ended and removes what it installed.
func (ss *sessionState) finish(err error) {
	g := ss.g
	if ss.stopWatch != nil {
		ss.stopWatch()
	}
	reason, detail, byPeer := control.Outcome(err, ss.established)
	if byPeer {
		detail = "remote says: " + detail
	}
	var se *control.SessionError
	errors.As(err, &se)
	stopping := g.ctx.Err() != nil || (ss.remote != nil && ss.remote.ctx.Err() != nil)
	addr := ss.conn.RemoteAddr().String()
	identity := ss.identity
	tieBreak := ss.tieBreak || (se != nil && se.Remote && se.Reason == control.ReasonUnexpected && strings.HasPrefix(se.Detail, tieBreakDetail))
	if !ss.established && tieBreak {
		// Both gateways dial: the one whose identity sorts first keeps
		// its session; this is no refusal of a bad peer.
		g.log.Info("both gateways dial each other; the one whose identity sorts first dials", "remote_addr", addr, "detail", detail)
		if r := ss.remote; r != nil {
			r.mu.Lock()
			if r.cur == nil {
				r.setState(status.StateConnecting, "", "waiting for the remote, whose identity sorts first, to dial")
			}
			r.mu.Unlock()
		}
		return
	}
	if !ss.established {
		if stopping {
			return
		}
		if ss.role == control.Responder {
			g.refusals.Record(addr, identity, reason, detail)
		} else {
			g.log.Warn("session with remote failed", "remote", ss.remote.cfg.Name, "addr", addr, "reason", reason, "detail", detail)
		}
		if r := ss.remote; r != nil {
			r.mu.Lock()
			if r.cur == nil {
				r.setState(status.StateRefused, reason, detail)
			}
			r.mu.Unlock()
			if ss.role == control.Initiator {
				g.refusals.Count(reason)
			}
		}
		return
	}
	r := ss.remote
	if !r.detach(ss) {
		return
	}
	state := status.StateDown
	if se != nil && (se.Reason == control.ReasonRevoked || se.Reason == control.ReasonIdentity) {
		state = status.StateRefused
	}
	if cut, ok := ss.cut.Load().(string); ok {
		state, reason = status.StateRefused, cut
	}
	r.mu.Lock()
	r.setState(state, reason, detail)
	r.dismissed = se != nil && se.Remote && ((se.Reason == control.ReasonRemoved && se.Detail != changedDetail) ||
		se.Reason == control.ReasonRevoked || se.Reason == control.ReasonIdentity)
	r.mu.Unlock()
	g.log.Info("tunnel down", "remote", r.cfg.Name, "reason", reason, "detail", detail)
}
