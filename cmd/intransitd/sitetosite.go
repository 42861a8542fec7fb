package main

import (
	"context"
	"time"

	"intransit/internal/status"
	"intransit/s2s"
)

// The site-to-site gateway is d.gw; it is nil when the configuration serves
// laptops only (daemonconfig.Config.SiteToSite): then the daemon opens no
// site-to-site interface or listener, and these stand in for it.

// s2sStatus is the site-to-site gateway's report; without one, the
// gateway's identity and site prefixes alone.
func (d *daemon) s2sStatus() status.Report {
	if d.gw != nil {
		return d.gw.Status()
	}
	rep := status.Report{Time: time.Now()}
	if own, err := d.id.Own(); err == nil {
		rep.Gateway.Identity, rep.Gateway.CertExpiry = own.Identity, own.NotAfter
	}
	for _, p := range d.cfg.Prefixes() {
		rep.Gateway.SitePrefixes = append(rep.Gateway.SitePrefixes, p.String())
	}
	return rep
}

// s2sWait is closed when the site-to-site device goes away; without one it
// is nil (never ready).
func (d *daemon) s2sWait() <-chan struct{} {
	if d.gw == nil {
		return nil
	}
	return d.gw.Wait()
}

// s2sClose closes the site-to-site gateway, if there is one.
func (d *daemon) s2sClose() error {
	if d.gw == nil {
		return nil
	}
	return d.gw.Close()
}

// s2sSetRemotes gives the site-to-site gateway the configuration's
// remotes. Without one there are none: a configuration with remotes has a
// listen section, and adding one needs a restart.
func (d *daemon) s2sSetRemotes(next []s2s.Remote) error {
	if d.gw == nil {
		return nil
	}
	return d.gw.SetRemotes(next)
}

// reloadIdentity re-reads the certificate, CA bundle and CRL files that
// both gateways share.
func (d *daemon) reloadIdentity(ctx context.Context) error { return d.id.Reload(ctx) }
