package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"intransit/internal/daemonconfig"
	"intransit/p2s/enroll"
	"intransit/pki"
	"intransit/pki/admin"
	"intransit/tlspolicy"
)

// caRuntime is the CA a daemon holds: unlocked once at start (one run of
// the master key's KDF) and kept open for the daemon's life. It signs
// point-to-site client certificates from memory, and serves `intransit
// pki` on the admin socket in the PKI directory; a revocation there signs
// a new CRL, writes it to identity.crl (when that is a file) and has the
// gateways re-read it, so that the peer or laptop is cut at once.
type caRuntime struct {
	ca     *pki.CA
	auth   *enroll.CAAuthority
	socket string
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startCA opens the CA of the configuration; nil when it holds none.
func startCA(ctx context.Context, cfg *daemonconfig.Config, rev *tlspolicy.Revocation, log *slog.Logger) (*caRuntime, error) {
	c := cfg.CA()
	if c == nil {
		return nil, nil
	}
	log = log.With("component", "pki")
	secret, err := p2sSecret(*c)
	if err != nil {
		return nil, err
	}
	ca, err := pki.Open(ctx, c.Dir, secret, pki.OpenOptions{Logger: log})
	secret.Wipe()
	if err != nil {
		return nil, fmt.Errorf("pki %s: %w", c.Dir, err)
	}
	ln, err := admin.Listen(c.Dir)
	if err != nil {
		ca.Close()
		return nil, err
	}
	pub := &admin.CRLFiles{Then: rev.Reload}
	if !cfg.Identity.CRLIsURL() {
		pub.Paths = []string{cfg.Identity.CRL}
	}
	rt := &caRuntime{ca: ca, auth: enroll.NewCAAuthority(ca, 0, 0), socket: filepath.Join(c.Dir, admin.SocketFile)}
	sctx, cancel := context.WithCancel(context.Background())
	rt.cancel = cancel
	rt.wg.Add(1)
	go func() {
		defer rt.wg.Done()
		if err := admin.Serve(sctx, ln, admin.NewLocal(ca, pub, log), log); err != nil {
			log.Error("pki admin socket failed", "error", err.Error())
		}
	}()
	log.Info("CA unlocked and held", "dir", c.Dir, "ca", ca.Config().Name, "admin_socket", rt.socket)
	return rt, nil
}

// authority is the signer for point-to-site enrollment; nil without a CA.
func (rt *caRuntime) authority() enroll.Authority {
	if rt == nil {
		return nil
	}
	return rt.auth
}

// close stops the admin socket and closes the CA.
func (rt *caRuntime) close() {
	if rt == nil {
		return
	}
	rt.cancel()
	rt.wg.Wait()
	os.Remove(rt.socket)
	rt.ca.Close()
}
