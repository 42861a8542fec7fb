package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sys/unix"

	"intransit/internal/configcheck"
	"intransit/internal/daemonconfig"
	"intransit/internal/gatewaycore"
	"intransit/internal/logging"
	"intransit/internal/status"
	"intransit/pki/renewal"
	"intransit/s2s"
	"intransit/tlspolicy"
	"intransit/tunnel/control"
)

// daemon is a running intransitd.
type daemon struct {
	log      *slog.Logger
	level    *logLevel
	cfg      *daemonconfig.Config
	path     string // the configuration file, the same across reloads
	mu       sync.Mutex
	loadedAt time.Time    // guarded by mu: the status socket reads it
	gw       *s2s.Gateway // nil for a gateway for laptops only
	id       gatewaycore.Identity
	guard    *guards // the fail-closed blocks
	p2s      *p2sRuntime
	ca       *caRuntime
	fleet    *fleet                  // nil unless the store is shared (etcd)
	own      *tlspolicy.KeyPairFiles // the gateway's certificate
	renewer  *renewal.Renewer        // renews it; nil without identity.renew
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	// lastReload is the outcome of the last SIGHUP, guarded by mu: the
	// status report carries it.
	lastReload status.Reload
}

// newRegistry builds the daemon's Prometheus registry with the runtime's
// collectors and the metrics the TLS endpoints and the control sessions
// count into; the gateways add their collectors once open.
func newRegistry() (*prometheus.Registry, *tlspolicy.Metrics, *control.Metrics, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	tlsMetrics, err := tlspolicy.NewMetrics(reg)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("metrics: %w", err)
	}
	ctrlMetrics, err := control.NewMetrics(reg)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("metrics: %w", err)
	}
	return reg, tlsMetrics, ctrlMetrics, nil
}

// newDaemon loads the key material and starts the gateway. It logs on
// stderr (journald adds the time) at level, set from cfg unless pinned.
func newDaemon(ctx context.Context, cfg *daemonconfig.Config, level *logLevel) (*daemon, error) {
	level.apply(cfg)
	log := logging.New(os.Stderr, cfg.LogFormat, level)
	d := &daemon{log: log, level: level, cfg: cfg, path: cfg.Path, loadedAt: time.Now()}
	// Before anything else: the remotes' prefixes never leave in clear.
	var err error
	if d.guard, err = installGuards(ctx, cfg); err != nil {
		return nil, fmt.Errorf("fail-closed block: %w", err)
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.keepGuard()
	reg, tlsMetrics, ctrlMetrics, err := newRegistry()
	if err != nil {
		d.cancel()
		return nil, err
	}
	if d.fleet, err = openFleet(ctx, cfg, log); err != nil {
		d.cancel()
		return nil, err
	}
	opts, err := d.gatewayOptions(ctx, cfg, tlsMetrics)
	if err != nil {
		d.fleet.close()
		d.cancel()
		return nil, err
	}
	opts.ControlMetrics = ctrlMetrics
	if d.ca, err = startCA(ctx, cfg, opts.Revocation, log); err != nil {
		d.fleet.close()
		d.cancel()
		return nil, err
	}
	d.id = opts.Identity
	d.fleet.start(cfg, opts.Revocation, d.ca)
	if cfg.SiteToSite() {
		if d.gw, err = s2s.Open(ctx, opts); err != nil {
			d.fleet.close()
			d.ca.close()
			d.cancel()
			return nil, err
		}
		reg.MustRegister(s2s.NewCollector(d.gw))
	}
	if cfg.P2S != nil {
		if d.p2s, err = startP2S(ctx, cfg, opts, d.ca.authority(), reg, log); err != nil {
			d.s2sClose()
			d.fleet.close()
			d.ca.close()
			d.cancel()
			return nil, err
		}
	}
	reg.MustRegister(renewal.NewCollector(d.certificates))
	if err := d.startRenewal(ctx, cfg, opts); err != nil {
		d.p2s.close()
		d.s2sClose()
		d.fleet.close()
		d.ca.close()
		d.cancel()
		d.wg.Wait()
		return nil, err
	}
	if err := d.startSockets(reg); err != nil {
		d.p2s.close()
		d.s2sClose()
		d.fleet.close()
		d.ca.close()
		d.cancel()
		return nil, err
	}
	if err := d.startConsole(opts); err != nil {
		d.cancel()
		d.wg.Wait()
		d.p2s.close()
		d.s2sClose()
		d.fleet.close()
		return nil, err
	}
	return d, nil
}

// gatewayOptions turns the configuration into s2s options, loading the
// certificate, CAs and CRL and the WireGuard key.
func (d *daemon) gatewayOptions(ctx context.Context, cfg *daemonconfig.Config, m *tlspolicy.Metrics) (s2s.Options, error) {
	// A renewal a crash interrupted is completed first.
	if err := renewal.FinishInstall(cfg.Identity.Cert, cfg.Identity.Key); err != nil {
		return s2s.Options{}, fmt.Errorf("identity.cert/key: %w", err)
	}
	id, err := configcheck.LoadIdentity(ctx, cfg, d.log, d.fleet.crlSource)
	if err != nil {
		return s2s.Options{}, err
	}
	prof, kp, cas, rev := id.Profile, id.KeyPair, id.CAs, id.Revocation
	key, err := s2s.LoadOrCreateKey(cfg.StateDir)
	if err != nil {
		return s2s.Options{}, fmt.Errorf("state_dir: %w", err)
	}
	d.wg.Add(3)
	go func() { defer d.wg.Done(); rev.Watch(d.ctx, cfg.Identity.CRLRefresh.Duration) }()
	go func() { defer d.wg.Done(); kp.Watch(d.ctx, time.Minute) }()
	go func() { defer d.wg.Done(); cas.Watch(d.ctx, time.Minute) }()
	opts := s2s.Options{
		Interface: cfg.Interface.Name, MTU: cfg.Interface.MTU, SitePrefixes: cfg.Prefixes(),
		Control:    cfg.Listen.Control.AddrPort,
		Identity:   gatewaycore.Identity{Certificate: kp, CAs: cas, Revocation: rev, Profile: prof, TLSMetrics: m},
		PrivateKey: key, PSKRotation: cfg.PSKRotation.Duration, Keepalive: cfg.Keepalive.Duration,
		DeadAfter: cfg.DeadAfter.Duration, PathMTU: cfg.PathMTU, Admission: gatewaycore.Limits{HandshakeTimeout: cfg.HandshakeTimeout.Duration}, Remotes: remotes(cfg), Logger: d.log,
	}
	for _, t := range cfg.Listen.Transports() {
		opts.Transports = append(opts.Transports, s2s.Listener{Name: t.Name, Endpoint: t.Endpoint})
	}
	return opts, nil
}

// remotes converts the configured remotes.
func remotes(cfg *daemonconfig.Config) []s2s.Remote {
	out := make([]s2s.Remote, 0, len(cfg.Remotes))
	for _, r := range cfg.Remotes {
		sr := s2s.Remote{Name: r.Name, Identity: r.Identity, Transports: r.Transports, AllowedPrefixes: r.Prefixes()}
		for _, c := range r.Control {
			sr.Control = append(sr.Control, c.AddrPort)
		}
		out = append(out, sr)
	}
	return out
}

// startSockets opens the status socket and, when configured, the metrics
// listener.
func (d *daemon) startSockets(reg *prometheus.Registry) error {
	ln, err := status.Listen(d.cfg.StatusSocket)
	if err != nil {
		return err
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := status.Serve(d.ctx, ln, d.report, d.log); err != nil {
			d.log.Error("status socket failed", "error", err.Error())
		}
	}()
	if d.cfg.MetricsListen == "" {
		return nil
	}
	mln, err := net.Listen("tcp", d.cfg.MetricsListen)
	if err != nil {
		return fmt.Errorf("metrics_listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if d.cfg.MetricsPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		if err := srv.Serve(mln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("metrics listener failed", "error", err.Error())
		}
	}()
	go func() {
		defer d.wg.Done()
		<-d.ctx.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	d.log.Info("metrics listening", "addr", mln.Addr().String())
	return nil
}

// report is the status socket's answer.
func (d *daemon) report() status.Report {
	rep := d.s2sStatus()
	rep.Gateway.ConfigPath = d.path
	d.mu.Lock()
	rep.Gateway.ConfigLoaded = d.loadedAt
	rep.Gateway.LastReload = d.lastReload
	d.mu.Unlock()
	rep.P2S = d.p2s.status()
	rep.Blocks = d.blocks(rep.Peers)
	rep.Certificates = d.certificates(time.Now())
	rep.CRLPublisher = d.fleet.crlPublisher(d.ctx)
	return rep
}

// serve runs until ctx ends or the device goes away: SIGHUP reloads,
// the watchdog is fed while the gateway answers.
func (d *daemon) serve(ctx context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	d.notify(sd.SdNotifyReady, d.statusLine())
	d.log.Info("intransitd ready", "config", d.cfg.Path, "remotes", len(d.cfg.Remotes))
	var watchdog <-chan time.Time
	if every, err := sd.SdWatchdogEnabled(false); err == nil && every > 0 {
		t := time.NewTicker(every / 2)
		defer t.Stop()
		watchdog = t.C
	}
	statusTick := time.NewTicker(30 * time.Second)
	defer statusTick.Stop()
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-d.s2sWait():
			runErr = errors.New("the tunnel device went away")
			break loop
		case <-d.p2s.wait():
			runErr = errors.New("the point-to-site tunnel device went away")
			break loop
		case <-hup:
			d.notify(sd.SdNotifyReloading, "")
			d.reload(ctx)
			d.notify(sd.SdNotifyReady, d.statusLine())
		case <-watchdog:
			d.s2sStatus()
			d.notify(sd.SdNotifyWatchdog, "")
		case <-statusTick.C:
			d.notify("", d.statusLine())
		}
	}
	d.notify(sd.SdNotifyStopping, "STATUS=stopping")
	d.log.Info("intransitd stopping")
	d.p2s.close()
	if err := d.s2sClose(); err != nil {
		d.log.Error("closing the gateway", "error", err.Error())
	}
	d.fleet.close()
	d.ca.close()
	d.cancel()
	d.wg.Wait()
	os.Remove(d.cfg.StatusSocket)
	return runErr
}

// statusLine is the one-line STATUS= for systemd.
func (d *daemon) statusLine() string {
	rep := d.s2sStatus()
	up := 0
	for _, p := range rep.Peers {
		if p.State == status.StateUp {
			up++
		}
	}
	return fmt.Sprintf("STATUS=%d of %d remote gateways up", up, len(rep.Peers))
}

// notify sends states to systemd when it is listening; a failure is only
// logged at debug level (not running under systemd).
func (d *daemon) notify(state, statusLine string) {
	msg := state
	if statusLine != "" {
		if msg != "" {
			msg += "\n"
		}
		msg += statusLine
	}
	if msg == "" {
		return
	}
	if state == sd.SdNotifyReloading {
		msg += fmt.Sprintf("\nMONOTONIC_USEC=%d", monotonicUsec())
	}
	if _, err := sd.SdNotify(false, msg); err != nil {
		d.log.Debug("sd_notify failed", "error", err.Error())
	}
}

// monotonicUsec is CLOCK_MONOTONIC in microseconds, as RELOADING=1 wants.
func monotonicUsec() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano() / 1000
}

// reload applies a new configuration: remotes are added, removed or
// restarted, certificate material is re-read; a file that fails validation,
// or that changes a setting only a restart can apply, changes nothing.
func (d *daemon) reload(ctx context.Context) {
	refused := d.reloadRefused(time.Now())
	next, err := daemonconfig.Load(d.cfg.Path)
	if err != nil {
		d.log.Error("reload refused: invalid configuration, nothing changed", "error", err.Error())
		refused("invalid configuration: " + err.Error())
		return
	}
	if field := gatewaycore.RestartOnly(d.cfg, next); field != "" {
		d.log.Error("reload refused: this change needs a restart, nothing changed", "field", field, "at", next.Where(field))
		refused(next.Where(field) + ": " + field + ": this change needs a restart")
		return
	}
	if err := d.guard.remotes.Apply(ctx, guardPolicy(next)); err != nil {
		d.log.Error("reload refused: the fail-closed block could not change, nothing changed", "error", err.Error())
		return
	}
	if err := d.s2sSetRemotes(remotes(next)); err != nil {
		d.log.Error("reload refused, nothing changed", "error", err.Error())
		refused(err.Error())
		if err := d.guard.remotes.Apply(ctx, guardPolicy(d.cfg)); err != nil {
			d.log.Error("restoring the fail-closed block", "error", err.Error())
		}
		return
	}
	if err := d.reloadIdentity(ctx); err != nil {
		d.log.Warn("reload: certificate material kept", "error", err.Error())
	}
	d.cfg = next
	if d.level.apply(next) {
		d.log.Info("log level changed", "log_level", next.LogLevel)
	}
	d.mu.Lock()
	d.loadedAt = time.Now()
	d.lastReload = status.Reload{At: d.loadedAt}
	d.mu.Unlock()
	d.log.Info("configuration reloaded", "config", next.Path, "remotes", len(next.Remotes))
}

// reloadRefused returns the function that records a reload asked for at
// at as refused, and why.
func (d *daemon) reloadRefused(at time.Time) func(string) {
	return func(why string) {
		d.mu.Lock()
		d.lastReload = status.Reload{At: at, Refused: why}
		d.mu.Unlock()
	}
}
