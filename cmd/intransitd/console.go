package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"intransit/internal/console"
	"intransit/internal/status"
	"intransit/p2s/enroll"
	"intransit/pki"
	"intransit/pki/store"
	"intransit/s2s"
	"intransit/tlspolicy"
)

// consoleSource is the daemon as the console's status source.
type consoleSource struct{ d *daemon }

// Report implements console.Source.
func (s consoleSource) Report() status.Report { return s.d.report() }

// startConsole serves the web console when the configuration has a
// console section: plain HTTP on loopback, else TLS under the console's
// profile with client certificates verified against the gateway's CAs and
// CRL and the admin role required.
func (d *daemon) startConsole(opts s2s.Options) error {
	cc := d.cfg.Console
	if cc == nil {
		return nil
	}
	co := console.Options{Source: consoleSource{d}, ExpiryWarning: cc.ExpiryWarning.Duration, Logger: d.log, Listeners: d.listeners()}
	if d.p2s != nil {
		acts, err := d.consoleActions(opts)
		if err != nil {
			return err
		}
		co.Actions = acts
		for _, g := range d.cfg.P2S.Groups {
			co.Groups = append(co.Groups, g.Name)
		}
	}
	var cfg *tls.Config
	if !cc.Loopback() {
		id := d.s2sStatus().Gateway.Identity
		u, err := url.Parse(id)
		if err != nil || u.Scheme != "intransit" || u.Host == "" {
			return fmt.Errorf("console.listen %s is not loopback, so only admins of this gateway's PKI get in; but the gateway's identity %q is not from an intransit PKI", cc.Listen, id)
		}
		co.Admin = u.Host
		prof, err := tlspolicy.LoadProfile(cc.TLSProfile)
		if err != nil {
			return fmt.Errorf("console.tls_profile: %w", err)
		}
		cfg, err = tlspolicy.ServerConfig(tlspolicy.Options{Profile: prof, Certificate: opts.Certificate, CAs: opts.CAs,
			Revocation: opts.Revocation, Logger: d.log, Metrics: opts.TLSMetrics})
		if err != nil {
			return fmt.Errorf("console: %w", err)
		}
	}
	c, err := console.New(co)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cc.Listen.String())
	if err != nil {
		return fmt.Errorf("console.listen: %w", err)
	}
	d.wg.Add(2)
	go func() { defer d.wg.Done(); c.Sample(d.ctx) }()
	go func() {
		defer d.wg.Done()
		if err := c.Serve(d.ctx, ln, cfg); err != nil {
			d.log.Error("console listener failed", "error", err.Error())
		}
	}()
	scheme := "http"
	if cfg != nil {
		scheme = "https"
	}
	d.log.Info("console listening", "url", scheme+"://"+ln.Addr().String()+"/", "admin_pki", co.Admin)
	return nil
}

// listeners are the daemon's listeners that the status report does not
// hold.
func (d *daemon) listeners() []console.Listener {
	c := d.cfg
	out := []console.Listener{{Name: "console", Addr: c.Console.Listen.String()}, {Name: "status socket", Addr: c.StatusSocket}}
	if c.MetricsListen != "" {
		out = append(out, console.Listener{Name: "metrics", Addr: c.MetricsListen})
	}
	if p := c.P2S; p != nil {
		if p.Enroll.IsValid() {
			out = append(out, console.Listener{Name: "enrollment API", Addr: p.Enroll.String()})
		}
		if p.Renew.IsValid() {
			out = append(out, console.Listener{Name: "renewal API", Addr: p.Renew.String()})
		}
		out = append(out, console.Listener{Name: "p2s admin socket", Addr: p.AdminSocket})
	}
	return out
}

// consoleActions are the console's actions on the point-to-site gateway.
type consoleActions struct {
	d         *daemon
	enrollURL string
}

// consoleActions builds the actions; the enrollment link's base is
// console.enroll_url, else https:// and p2s.enroll (this host's name when
// p2s.enroll is an unspecified address).
func (d *daemon) consoleActions(opts s2s.Options) (*consoleActions, error) {
	a := &consoleActions{d: d, enrollURL: d.cfg.Console.EnrollURL}
	if ep := d.cfg.P2S.Enroll; a.enrollURL == "" && ep.IsValid() {
		host := ep.Addr().String()
		if ep.Addr().IsUnspecified() {
			h, err := os.Hostname()
			if err != nil {
				return nil, fmt.Errorf("console: the enrollment link needs a host name (set console.enroll_url): %w", err)
			}
			host = h
		}
		a.enrollURL = "https://" + net.JoinHostPort(host, strconv.Itoa(int(ep.Port())))
	}
	return a, nil
}

// Invite implements console.Actions.
func (a *consoleActions) Invite(ctx context.Context, name, group string, ttl time.Duration) (console.Invitation, error) {
	if a.enrollURL == "" {
		return console.Invitation{}, errors.New("this gateway has no enrollment API (p2s.enroll): laptops cannot enroll here")
	}
	text, tok, err := a.d.p2s.enroll.Invite(ctx, name, group, ttl)
	if err != nil {
		return console.Invitation{}, err
	}
	return console.Invitation{Token: text, Link: enroll.Link(a.enrollURL, text), Name: tok.Name, Group: tok.Group, Expires: tok.Expires}, nil
}

// Revoke implements console.Actions: a static device is removed; an
// enrolled client's valid certificates are revoked through the CA the
// daemon holds, which publishes the new CRL and has the gateways read it,
// so that the session is cut at once.
func (a *consoleActions) Revoke(ctx context.Context, name string) error {
	if st := a.d.p2s.status(); st != nil && slices.ContainsFunc(st.Statics, func(c status.P2SClient) bool { return c.Name == name }) {
		return a.d.p2s.gw.RemoveStatic(ctx, name)
	}
	if a.d.ca == nil {
		return errors.New("this gateway does not hold the PKI (pki or p2s.pki): revoke with intransit pki revoke where it is held")
	}
	ca := a.d.ca.admin
	recs, err := ca.List(ctx, store.Filter{Name: name, Profile: pki.ProfileClient, Status: store.StatusValid})
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return fmt.Errorf("no valid client certificate is named %q", name)
	}
	var serials []string
	for _, r := range recs {
		serial := pki.FormatSerial(r.Serial)
		if _, err := ca.Revoke(ctx, serial, store.ReasonCessationOfOperation); err != nil {
			return fmt.Errorf("revoke %s: %w", serial, err)
		}
		serials = append(serials, serial)
	}
	a.d.log.Info("console: client certificates revoked", "client", name, "serials", strings.Join(serials, ","))
	return nil
}

// Disconnect implements console.Actions: the client's session ends, its
// record and lease stay, and it reconnects by itself.
func (a *consoleActions) Disconnect(ctx context.Context, name string) error {
	if st := a.d.p2s.status(); st != nil && slices.ContainsFunc(st.Statics, func(c status.P2SClient) bool { return c.Name == name }) {
		return fmt.Errorf("%s is a static device: it has no session to end (revoke removes it)", name)
	}
	return a.d.p2s.gw.Disconnect(ctx, name)
}
