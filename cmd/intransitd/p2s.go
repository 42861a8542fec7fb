package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"intransit/internal/daemonconfig"
	"intransit/internal/gatewaycore"
	"intransit/internal/statestore"
	"intransit/internal/status"
	"intransit/p2s/enroll"
	"intransit/p2s/gateway"
	"intransit/p2s/pool"
	"intransit/s2s"
	"intransit/tlspolicy"
	"intransit/tunnel/transport/tcpmss"
)

// p2sRuntime is the point-to-site part of a running intransitd: the
// gateway engine, its store, and the enrollment, renewal and admin
// listeners.
type p2sRuntime struct {
	gw      *gateway.Gateway
	store   *statestore.Stores
	wg      sync.WaitGroup
	srvs    []*http.Server
	pathMTU int // the enrollment and renewal listeners clamp TCP to it

	// enroll makes the tokens (the console invites through it).
	enroll *enroll.Server
	// failover are the claims and announcements of a gateway that shares
	// its clients with others.
	failover *p2sFailover
}

// startP2S starts point-to-site serving from the configuration's p2s
// section, sharing the site-to-site identity and trust material in base.
func startP2S(ctx context.Context, cfg *daemonconfig.Config, base s2s.Options, auth enroll.Authority, reg prometheus.Registerer, log *slog.Logger) (*p2sRuntime, error) {
	pc := cfg.P2S
	log = log.With("component", "p2s")
	key, err := s2s.LoadOrCreateKey(filepath.Join(cfg.StateDir, "p2s"))
	if err != nil {
		return nil, fmt.Errorf("p2s: state_dir: %w", err)
	}
	stores, err := statestore.Open(ctx, cfg.Store, cfg.StateDir, pc.LeaseIdle.Duration, log)
	if err != nil {
		return nil, err
	}
	st := stores.P2S
	rt := &p2sRuntime{store: stores, pathMTU: cfg.PathMTU}
	ok := false
	defer func() {
		if !ok {
			rt.close()
		}
	}()
	pl, err := pool.New(ctx, pc.PoolV4(), pc.PoolV6(), st)
	if err != nil {
		return nil, fmt.Errorf("p2s: pools: %w", err)
	}
	if rt.failover, err = openFailover(pc, stores, log); err != nil {
		return nil, err
	}
	var groups []gateway.Group
	var names []string
	for _, g := range pc.Groups {
		gr := gateway.Group{Name: g.Name, FullTunnel: g.FullTunnel, Routes: g.Prefixes(), ClientToClient: g.ClientToClient, SearchDomains: g.Search}
		for _, a := range g.DNS {
			gr.DNSServers = append(gr.DNSServers, a.Addr)
		}
		groups = append(groups, gr)
		names = append(names, g.Name)
	}
	// The s2s listener's limits, but as many sessions as clients allowed.
	admission := base.Admission
	admission.Sessions = pc.MaxClients
	opts := gateway.Options{
		Interface: pc.Interface.Name, MTU: pc.Interface.MTU, Control: pc.Listen.Control.AddrPort, PathMTU: cfg.PathMTU,
		ControlMetrics: base.ControlMetrics, Identity: base.Identity, PrivateKey: key, Pool: pl, Store: st, SitePrefixes: base.SitePrefixes, Groups: groups,
		PSKRotation: base.PSKRotation, Keepalive: base.Keepalive, DeadAfter: base.DeadAfter, Admission: admission,
		ClientKeepalive: pc.ClientKeepalive.Duration, LeaseIdle: pc.LeaseIdle.Duration, Logger: log,
		Holders: rt.failover.holders, Announcer: rt.failover.announcer,
	}
	for _, t := range pc.Listen.Transports() {
		opts.Transports = append(opts.Transports, gateway.Listener{Name: t.Name, Endpoint: t.Endpoint})
	}
	rt.gw, err = gateway.Open(ctx, opts)
	if err != nil {
		return nil, err
	}
	if err := reg.Register(gateway.NewCollector(rt.gw)); err != nil {
		return nil, fmt.Errorf("p2s: metrics: %w", err)
	}
	srv := &enroll.Server{Store: st, Groups: names, ClientTTL: pc.ClientTTL.Duration, ControlPort: pc.Listen.Control.Port(),
		RenewPort: pc.Renew.Port(), Gateways: pc.Gateways, Authority: auth, Logger: log}
	rt.enroll = srv
	tlsOpts := tlspolicy.Options{Profile: base.Profile, Certificate: base.Certificate, Logger: log, Metrics: base.TLSMetrics}
	if pc.Enroll.IsValid() {
		prof, err := tlspolicy.LoadProfile(pc.EnrollProfile)
		if err != nil {
			return nil, fmt.Errorf("p2s.enroll_profile: %w", err)
		}
		eo := tlsOpts
		eo.Profile = prof
		cfgTLS, err := tlspolicy.ServerConfig(eo)
		if err != nil {
			return nil, fmt.Errorf("p2s: enroll: %w", err)
		}
		if err := rt.serveHTTPS(ctx, pc.Enroll.AddrPort.String(), cfgTLS, srv.Handler(), log, "enroll"); err != nil {
			return nil, err
		}
	}
	if pc.Renew.IsValid() {
		tlsOpts.CAs, tlsOpts.Revocation = base.CAs, base.Revocation
		cfgTLS, err := tlspolicy.ServerConfig(tlsOpts)
		if err != nil {
			return nil, fmt.Errorf("p2s: renew: %w", err)
		}
		if err := rt.serveHTTPS(ctx, pc.Renew.AddrPort.String(), cfgTLS, srv.RenewHandler(), log, "renew"); err != nil {
			return nil, err
		}
	}
	ln, err := status.Listen(pc.AdminSocket)
	if err != nil {
		return nil, fmt.Errorf("p2s: admin_socket: %w", err)
	}
	admin := &http.Server{Handler: rt.gw.AdminMux(srv.AdminMux(http.NewServeMux())), ReadHeaderTimeout: 5 * time.Second}
	rt.srvs = append(rt.srvs, admin)
	rt.wg.Add(1)
	go func() {
		defer rt.wg.Done()
		defer os.Remove(pc.AdminSocket)
		if err := admin.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("p2s admin socket failed", "error", err.Error())
		}
	}()
	ok = true
	return rt, nil
}

// serveHTTPS serves h over TLS on addr until close.
func (rt *p2sRuntime) serveHTTPS(ctx context.Context, addr string, cfg *tls.Config, h http.Handler, log *slog.Logger, what string) error {
	lc := net.ListenConfig{Control: tcpmss.Control(rt.pathMTU, nil)}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("p2s: %s listener: %w", what, err)
	}
	ln = gatewaycore.LimitListener(ln, gatewaycore.HTTPPerSource, gatewaycore.HTTPConns, rt.gw.Refusals())
	srv := gatewaycore.NewHTTPServer(h, cfg, log)
	rt.srvs = append(rt.srvs, srv)
	rt.wg.Add(1)
	go func() {
		defer rt.wg.Done()
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("p2s "+what+" listener failed", "error", err.Error())
		}
	}()
	log.Info("p2s "+what+" listening", "addr", ln.Addr().String())
	return nil
}

// wait returns a channel closed when the point-to-site device stopped by
// itself; nil (never ready) when point-to-site is off.
func (rt *p2sRuntime) wait() <-chan struct{} {
	if rt == nil || rt.gw == nil {
		return nil
	}
	return rt.gw.Wait()
}

// status is the point-to-site part of the status report.
func (rt *p2sRuntime) status() *status.P2S {
	if rt == nil || rt.gw == nil {
		return nil
	}
	st := rt.gw.Status()
	if g := rt.store.Guard; g != nil {
		h := g.Health()
		st.Store = &status.StoreHealth{Backend: g.Name, Reachable: h.Reachable, Since: h.Since, Error: h.Error}
	}
	return st
}

// close stops everything point-to-site.
func (rt *p2sRuntime) close() {
	if rt == nil {
		return
	}
	for _, s := range rt.srvs {
		s.Close()
	}
	rt.wg.Wait()
	if rt.gw != nil {
		rt.gw.Close()
	}
	rt.failover.close()
	rt.store.Close()
}
