package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"intransit/internal/logging"
	"intransit/tlspolicy"
	"intransit/tlspolicy/crlsource"
	"intransit/tlspolicy/proxy"
)

// tlsProxyFlags are the flags of `intransit tls proxy`.
type tlsProxyFlags struct {
	listen, target, profile, mode   string
	cert, key, clientCA, ca, crl    string
	serverName, metrics, logLevel   string
	renew, renewCA, renewIdentity   string
	allowURI, allowDNS, allowCN     []string
	allowOU                         []string
	reloadEvery, crlEvery, shutdown time.Duration
}

// newTLSProxyCommand builds `intransit tls proxy`.
func newTLSProxyCommand() *cobra.Command {
	var f tlsProxyFlags
	cmd := &cobra.Command{
		Use:   "proxy --listen ADDR --target ADDR --profile P --cert FILE --key FILE",
		Short: "Put a plaintext service behind policy-checked TLS or mTLS (or, with --mode client, reach a TLS service from plaintext)",
		Long: `Server mode (the default) terminates TLS, or mTLS with --client-ca, and forwards
plaintext to --target. Client mode accepts plaintext and originates TLS (mTLS
with --cert/--key) to --target, verifying it against --ca.

The profile is a built-in name (baseline, modern, fips, pq) or a YAML file.
Certificates, keys, CA files and file CRLs are re-read when they change and on
SIGHUP; open connections keep going. Every refusal is logged with its reason.
--metrics ADDR serves /metrics (Prometheus) and /status (JSON).

A refusal is sent to the client as the TLS alert TLS itself uses for it
(protocol_version, handshake_failure, insufficient_security, and over TLS 1.2
unknown_ca, certificate_revoked, access_denied), so that clients print the
reason.

` + builtinProfiles(),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runTLSProxy(cmd.Context(), f, cmd.ErrOrStderr()) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "", "address to accept connections on (required)")
	fl.StringVar(&f.target, "target", "", "address to forward to (required)")
	fl.StringVar(&f.profile, "profile", tlspolicy.Baseline, "TLS profile: built-in name or YAML file")
	fl.StringVar(&f.mode, "mode", string(proxy.ModeServer), "server: accept TLS, forward plaintext; client: accept plaintext, originate TLS")
	fl.StringVar(&f.cert, "cert", "", "PEM certificate (chain) of this end")
	fl.StringVar(&f.key, "key", "", "PEM private key of this end")
	fl.StringVar(&f.clientCA, "client-ca", "", "server mode: PEM CA bundle; requires and verifies client certificates (mTLS)")
	fl.StringVar(&f.ca, "ca", "", "client mode: PEM CA bundle the target's certificate must chain to (default: system roots)")
	fl.StringVar(&f.crl, "crl", "", "CRL file or http(s) URL, signed by one of the CAs; revoked peers are refused")
	fl.StringVar(&f.serverName, "server-name", "", "client mode: name to verify the target's certificate against (default: the target host)")
	fl.StringSliceVar(&f.allowURI, "allow-uri", nil, "allowed peer URI SAN (repeatable)")
	fl.StringSliceVar(&f.allowDNS, "allow-dns", nil, "allowed peer DNS SAN (repeatable)")
	fl.StringSliceVar(&f.allowCN, "allow-cn", nil, "allowed peer subject CN (repeatable)")
	fl.StringSliceVar(&f.allowOU, "allow-ou", nil, "allowed peer subject OU (repeatable)")
	fl.StringVar(&f.metrics, "metrics", "", "address for the /metrics and /status endpoint")
	fl.StringVar(&f.renew, "renew", "", "renew --cert at two thirds of its lifetime from this renewal API (https://HOST:PORT, pki.renew of the gateway holding the CA)")
	fl.StringVar(&f.renewCA, "renew-ca", "", "PEM CA bundle the renewal server's certificate must chain to (default: --client-ca or --ca)")
	fl.StringVar(&f.renewIdentity, "renew-identity", "", "URI identity the renewal server's certificate must carry (checked instead of an address in --renew)")
	fl.StringVar(&f.logLevel, "log-level", logging.Info, "log level: debug, info, warn or error")
	fl.DurationVar(&f.reloadEvery, "reload-interval", 2*time.Second, "how often certificate, key and CA files are checked for changes")
	fl.DurationVar(&f.crlEvery, "crl-interval", time.Minute, "how often the CRL is re-fetched (also at its nextUpdate)")
	fl.DurationVar(&f.shutdown, "shutdown-grace", 10*time.Second, "how long open connections may finish after SIGINT/SIGTERM")
	return cmd
}

// builtinProfiles describes what each built-in profile allows, from the
// profiles themselves.
func builtinProfiles() string {
	var b strings.Builder
	b.WriteString("The built-in profiles allow:\n")
	for _, name := range tlspolicy.BuiltinNames() {
		p, err := tlspolicy.Builtin(name)
		if err != nil {
			panic(err) // a built-in name that does not build is a bug
		}
		fmt.Fprintf(&b, "\n%s\n%s", name, p.Describe("  "))
	}
	return b.String()
}

func runTLSProxy(parent context.Context, f tlsProxyFlags, logOut io.Writer) error {
	if parent == nil {
		parent = context.Background()
	}
	if f.listen == "" || f.target == "" {
		return errors.New("--listen and --target are required")
	}
	mode, err := proxy.ParseMode(f.mode)
	if err != nil {
		return err
	}
	if (f.cert == "") != (f.key == "") {
		return errors.New("--cert and --key go together")
	}
	if mode == proxy.ModeServer && f.cert == "" {
		return errors.New("server mode needs --cert and --key")
	}
	if mode == proxy.ModeServer && f.ca != "" {
		return errors.New("--ca is for client mode; in server mode use --client-ca")
	}
	if mode == proxy.ModeClient && f.clientCA != "" {
		return errors.New("--client-ca is for server mode; in client mode use --ca")
	}
	if mode == proxy.ModeClient && f.serverName == "" {
		host, _, err := net.SplitHostPort(f.target)
		if err != nil {
			return fmt.Errorf("--target %q: %w", f.target, err)
		}
		f.serverName = host
	}
	level, err := logging.ParseLevel(f.logLevel)
	if err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := logging.New(logOut, logging.Text, level)
	prof, err := tlspolicy.LoadProfile(f.profile)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()

	reg := prometheus.NewRegistry()
	policyMetrics, err := tlspolicy.NewMetrics(reg)
	if err != nil {
		return err
	}
	proxyMetrics, err := proxy.NewMetrics(reg)
	if err != nil {
		return err
	}
	opts := tlspolicy.Options{
		Profile: prof, Logger: log, Metrics: policyMetrics, ServerName: f.serverName,
		Allow: tlspolicy.Identity{URIs: f.allowURI, DNSNames: f.allowDNS, CommonNames: f.allowCN, OrgUnits: f.allowOU},
	}
	var reloaders []tlspolicy.Reloader
	var watchers []func(context.Context)
	if f.cert != "" {
		kp, err := loadProxyKeyPair(f, prof, log)
		if err != nil {
			return err
		}
		opts.Certificate = kp
		reloaders = append(reloaders, kp)
		watchers = append(watchers, func(ctx context.Context) { kp.Watch(ctx, f.reloadEvery) })
		renewer, err := proxyRenewer(f, kp, log)
		if err != nil {
			return err
		}
		if renewer != nil {
			watchers = append(watchers, renewer.Run)
		}
		if err := reg.Register(proxyCertCollector(kp, renewer)); err != nil {
			return err
		}
	}
	if caFile := f.clientCA + f.ca; caFile != "" {
		cas, err := tlspolicy.LoadCAFile(caFile, log)
		if err != nil {
			return err
		}
		opts.CAs = cas
		reloaders = append(reloaders, cas)
		watchers = append(watchers, func(ctx context.Context) { cas.Watch(ctx, f.reloadEvery) })
	}
	if f.crl != "" {
		if opts.CAs == nil {
			return errors.New("--crl needs the CAs that sign it (--client-ca or --ca)")
		}
		var src tlspolicy.CRLSource = &crlsource.File{Path: f.crl}
		every := f.reloadEvery
		if strings.HasPrefix(f.crl, "http://") || strings.HasPrefix(f.crl, "https://") {
			src, every = &crlsource.URL{URL: f.crl, Client: &http.Client{Timeout: 30 * time.Second}}, f.crlEvery
		}
		rev, err := tlspolicy.NewRevocation(ctx, src, opts.CAs, log)
		if err != nil {
			return err
		}
		opts.Revocation = rev
		reloaders = append(reloaders, rev)
		watchers = append(watchers, func(ctx context.Context) { rev.Watch(ctx, every) })
	}
	build := tlspolicy.ServerConfig
	if mode == proxy.ModeClient {
		build = tlspolicy.ClientConfig
	}
	tlsConfig, err := build(opts)
	if err != nil {
		return err
	}
	px, err := proxy.New(proxy.Config{
		Mode: mode, Target: f.target, TLS: tlsConfig, Profile: prof.Name, Logger: log,
		PolicyMetrics: policyMetrics, Metrics: proxyMetrics, ShutdownGrace: f.shutdown,
	})
	if err != nil {
		return err
	}
	// Catch SIGHUP before the port opens, so that a reload signal sent to a
	// running proxy never takes the default action (exit).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	for _, w := range watchers {
		go w(ctx)
	}
	go reloadOnHangup(ctx, hup, log, reloaders)
	if f.metrics != "" {
		if err := serveStatus(ctx, f.metrics, px.StatusHandler(reg), log); err != nil {
			ln.Close()
			return err
		}
	}
	return px.Serve(ctx, ln)
}

// reloadOnHangup re-reads every source on each signal from hup until ctx
// ends.
func reloadOnHangup(ctx context.Context, hup <-chan os.Signal, log *slog.Logger, reloaders []tlspolicy.Reloader) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			log.Info("SIGHUP: reloading certificates, CAs and CRL")
			for _, r := range reloaders {
				_ = r.Reload(ctx) // failures are logged; the previous material stays
			}
		}
	}
}

// serveStatus serves h on addr until ctx ends.
func serveStatus(ctx context.Context, addr string, h http.Handler, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint stopped", "error", err.Error())
		}
	}()
	log.Info("metrics endpoint listening", "addr", ln.Addr().String())
	return nil
}
