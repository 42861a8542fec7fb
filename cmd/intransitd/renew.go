package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"intransit/internal/daemonconfig"
	"intransit/internal/gatewaycore"
	"intransit/internal/status"
	"intransit/pki"
	"intransit/pki/renewal"
	"intransit/s2s"
	"intransit/tlspolicy"
	"intransit/tunnel/transport/tcpmss"
)

// startRenewal starts the renewal of the gateway's own certificate
// (identity.renew) and, when the daemon holds a CA with pki.renew, the
// renewal API other gateways and TLS proxies renew through. Both stop
// with d.ctx.
func (d *daemon) startRenewal(ctx context.Context, cfg *daemonconfig.Config, opts s2s.Options) error {
	log := d.log.With("component", "renewal")
	d.own = opts.Identity.Certificate
	if r := cfg.Identity.Renew; r != nil {
		var iss renewal.Issuer
		if r.FromCA() {
			if d.ca == nil {
				return fmt.Errorf("identity.renew.url %q: this daemon holds no CA", r.URL)
			}
			iss = &renewal.Local{CA: d.ca.ca}
		} else {
			iss = &renewal.Remote{URL: r.URL, Profile: opts.Identity.Profile, CAs: opts.Identity.CAs, Identity: r.Identity}
		}
		d.renewer = &renewal.Renewer{Name: "identity", CertFile: cfg.Identity.Cert, KeyFile: cfg.Identity.Key, Source: opts.Identity.Certificate, Issuer: iss, Logger: log}
		d.wg.Add(1)
		go func() { defer d.wg.Done(); d.renewer.Run(d.ctx) }()
	}
	ca := cfg.CA()
	if d.ca == nil || ca == nil || !ca.Renew.IsValid() {
		return nil
	}
	tlsCfg, err := renewal.ServerConfig(tlspolicy.Options{Profile: opts.Identity.Profile, Certificate: opts.Identity.Certificate,
		Logger: gatewaycore.LimitLog(log, gatewaycore.DefaultLogEvery), Metrics: opts.Identity.TLSMetrics})
	if err != nil {
		return err
	}
	lc := net.ListenConfig{Control: tcpmss.Control(cfg.PathMTU, nil)}
	ln, err := lc.Listen(ctx, "tcp", ca.Renew.AddrPort.String())
	if err != nil {
		return fmt.Errorf("pki.renew: %w", err)
	}
	ln = gatewaycore.LimitListener(ln, gatewaycore.HTTPPerSource, gatewaycore.HTTPConns,
		gatewaycore.NewRefusals(log, "renewal connection refused", gatewaycore.DefaultLogEvery))
	srv := gatewaycore.NewHTTPServer(renewal.Handler(d.ca.ca, log), tlsCfg, log)
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("renewal listener failed", "error", err.Error())
		}
	}()
	go func() {
		defer d.wg.Done()
		<-d.ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("certificate renewal API listening", "addr", ln.Addr().String())
	return nil
}

// certificates reports the certificates the daemon depends on: its own
// (with its renewal) and, when it holds a CA, the root and intermediates.
func (d *daemon) certificates(now time.Time) []status.Certificate {
	var out []status.Certificate
	if d.renewer != nil {
		out = append(out, d.renewer.Status(now))
	} else if own, err := d.own.Certificate(); err == nil && own != nil && own.Leaf != nil {
		out = append(out, status.CertificateOf("identity", own.Leaf, now))
	}
	if d.ca != nil {
		out = append(out, status.CertificateOf("ca root", d.ca.ca.Root(), now))
		for i, c := range d.ca.ca.Intermediates() {
			name := "ca intermediate"
			if i > 0 {
				name = "ca intermediate (previous " + pki.FormatSerial(c.SerialNumber) + ")"
			}
			out = append(out, status.CertificateOf(name, c, now))
		}
	}
	return out
}
