package main

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"intransit/internal/status"
	"intransit/pki/renewal"
	"intransit/tlspolicy"
)

// loadProxyKeyPair reads --cert and --key, completing first a renewal
// that a crash interrupted.
func loadProxyKeyPair(f tlsProxyFlags, prof *tlspolicy.Profile, log *slog.Logger) (*tlspolicy.KeyPairFiles, error) {
	if err := renewal.FinishInstall(f.cert, f.key); err != nil {
		return nil, fmt.Errorf("--cert/--key: %w", err)
	}
	return tlspolicy.LoadKeyPairFiles(f.cert, f.key, prof, log)
}

// proxyRenewer is the renewal of the proxy's certificate (--renew); nil
// without it. The renewal server is verified against --renew-ca, else
// the CA file of --client-ca or --ca.
func proxyRenewer(f tlsProxyFlags, kp *tlspolicy.KeyPairFiles, log *slog.Logger) (*renewal.Renewer, error) {
	if f.renew == "" {
		if f.renewCA != "" || f.renewIdentity != "" {
			return nil, errors.New("--renew-ca and --renew-identity need --renew")
		}
		return nil, nil
	}
	caFile := f.renewCA
	if caFile == "" {
		caFile = f.clientCA + f.ca
	}
	if caFile == "" {
		return nil, errors.New("--renew needs the CA of the renewal server: --renew-ca")
	}
	cas, err := tlspolicy.LoadCAFile(caFile, log)
	if err != nil {
		return nil, fmt.Errorf("--renew-ca: %w", err)
	}
	// The renewal API speaks the gateway's control profile (pq by
	// default); modern offers its hybrid group first and falls back.
	rprof, err := tlspolicy.Builtin(tlspolicy.Modern)
	if err != nil {
		return nil, err
	}
	iss := &renewal.Remote{URL: f.renew, Profile: rprof, CAs: cas, Identity: f.renewIdentity}
	return &renewal.Renewer{Name: "proxy", CertFile: f.cert, KeyFile: f.key, Source: kp, Issuer: iss, Logger: log.With("component", "renewal")}, nil
}

// proxyCertCollector exports the expiry of the proxy's certificate.
func proxyCertCollector(kp *tlspolicy.KeyPairFiles, r *renewal.Renewer) *renewal.Collector {
	return renewal.NewCollector(func(now time.Time) []status.Certificate {
		if r != nil {
			return []status.Certificate{r.Status(now)}
		}
		c, err := kp.Certificate()
		if err != nil || c == nil || c.Leaf == nil {
			return nil
		}
		return []status.Certificate{status.CertificateOf("proxy", c.Leaf, now)}
	})
}
