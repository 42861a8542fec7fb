package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"intransit/internal/configcheck"
	"intransit/internal/daemonconfig"
	"intransit/internal/statestore"
	"intransit/p2s/enroll"
	"intransit/pki"
	"intransit/pki/admin"
	"intransit/pki/store"
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
	admin  *admin.Local // revokes and publishes; the admin socket and the console use it
	auth   *enroll.CAAuthority
	pub    admin.Publisher // where this daemon publishes a CRL
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
	secret, err := configcheck.CASecret(cfg)
	if err != nil {
		return nil, err
	}
	// The records are in the PKI directory's bbolt file, or in the shared
	// store when the store section names one (the CA closes it).
	records, err := statestore.OpenPKI(ctx, cfg.Store, log)
	if err != nil {
		secret.Wipe()
		return nil, err
	}
	ca, err := pki.Open(ctx, c.Dir, secret, pki.OpenOptions{Store: records, Logger: log})
	secret.Wipe()
	if err != nil {
		if records != nil {
			records.Close()
		}
		return nil, fmt.Errorf("pki %s: %w", c.Dir, err)
	}
	ln, err := admin.Listen(c.Dir)
	if err != nil {
		ca.Close()
		return nil, err
	}
	pub := &admin.CRLFiles{CA: ca, Then: rev.Reload}
	switch ok, why := ownsCRLFile(ca, cfg.Identity); {
	case ok:
		pub.Paths = []string{cfg.Identity.CRL}
	default:
		log.Warn("revocations are not published to identity.crl; publish the CRL there yourself", "reason", why)
	}
	rt := &caRuntime{ca: ca, auth: enroll.NewCAAuthority(ca, 0, 0), socket: filepath.Join(c.Dir, admin.SocketFile)}
	sctx, cancel := context.WithCancel(context.Background())
	rt.cancel = cancel
	mono := &monotonic{next: pub}
	rt.pub = mono
	// On a shared store one elected gateway signs and publishes the CRL
	// (fleet.start); a revocation served here travels to every gateway by
	// the store's feed.
	shared := cfg.Store.Backend == daemonconfig.StoreEtcd
	local := admin.NewLocal(ca, mono, log)
	if shared {
		local = admin.NewLocal(ca, nil, log)
	}
	rt.admin = local
	rt.wg.Add(1)
	go func() {
		defer rt.wg.Done()
		if err := admin.Serve(sctx, ln, local, log); err != nil {
			log.Error("pki admin socket failed", "error", err.Error())
		}
	}()
	if !shared {
		rt.wg.Add(1)
		go func() { defer rt.wg.Done(); keepCRL(sctx, ca, mono, log) }()
	}
	log.Info("CA unlocked and held", "dir", c.Dir, "ca", ca.Config().Name, "admin_socket", rt.socket)
	return rt, nil
}

// crlCheckEvery is how often the held CA's CRL is checked for re-signing.
const crlCheckEvery = time.Hour

// keepCRL publishes the CA's current CRL at start (revocations made while
// no daemon ran take effect) and whenever it is re-signed: after half its
// validity, so that the gateways never hold an expired CRL.
func keepCRL(ctx context.Context, ca *pki.CA, pub admin.Publisher, log *slog.Logger) {
	var last uint64
	for {
		c, err := ca.CurrentCRL(ctx)
		switch {
		case err != nil:
			log.Error("CRL could not be signed", "error", err.Error())
		case c.Number != last:
			if files, err := pub.PublishCRL(ctx, c); err != nil {
				log.Error("CRL not published", "number", c.Number, "error", err.Error())
			} else {
				last = c.Number
				log.Info("CRL published", "number", c.Number, "next_update", c.NextUpdate, "files", fmt.Sprint(files))
			}
		}
		t := time.NewTimer(crlCheckEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// monotonic publishes CRLs one at a time and never one older than the
// last published: the revocations served on the admin socket and keepCRL
// publish concurrently.
type monotonic struct {
	mu   sync.Mutex
	last uint64
	next admin.Publisher
}

// PublishCRL implements admin.Publisher; an older CRL is skipped.
func (m *monotonic) PublishCRL(ctx context.Context, c *store.CRL) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c.Number < m.last {
		return nil, nil
	}
	files, err := m.next.PublishCRL(ctx, c)
	if err == nil {
		m.last = c.Number
	}
	return files, err
}

// ownsCRLFile reports whether identity.crl is a file holding a CRL of the
// held CA (or none yet), so that the daemon may replace it; else why not.
func ownsCRLFile(ca *pki.CA, id daemonconfig.Identity) (bool, string) {
	if id.CRLIsURL() {
		return false, "identity.crl is a URL"
	}
	b, err := os.ReadFile(id.CRL)
	if errors.Is(err, os.ErrNotExist) {
		return true, ""
	}
	if err != nil {
		return false, err.Error()
	}
	if blk, _ := pem.Decode(b); blk != nil {
		b = blk.Bytes
	}
	list, err := x509.ParseRevocationList(b)
	if err != nil {
		return false, fmt.Sprintf("%s: %v", id.CRL, err)
	}
	// After a rotation the file may still hold the replaced
	// intermediate's CRL first: any intermediate of this CA will do.
	for _, in := range ca.Intermediates() {
		if bytes.Equal(list.RawIssuer, in.RawSubject) {
			return true, ""
		}
	}
	return false, fmt.Sprintf("%s is the CRL of %s, not of this CA (%s)", id.CRL, list.Issuer, ca.Intermediate().Subject)
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
