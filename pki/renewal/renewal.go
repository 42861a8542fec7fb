// Package renewal renews the certificates of gateways and TLS servers
// before they expire: at two thirds of a certificate's lifetime a Renewer
// makes a fresh key, has the successor issued by an Issuer (the CA held in
// the same process, or the renewal API of the gateway holding it, over
// mTLS with the current certificate), writes key and chain in place and
// has the running endpoint re-read them, so that new handshakes use the
// new certificate while established connections go on. A failure is
// retried with backoff; the current certificate keeps serving until it
// expires.
//
// A renewal keeps the identity (the CA issues the same profile, name and
// names) and uses a fresh key: a key that leaked unnoticed stops being
// useful after one lifetime instead of living on through every renewal,
// and a fresh key costs nothing here since no peer pins it (the WireGuard
// key is bound to the certificate over the control channel, per session).
//
//	POST /pki/v1/renew  {"csr"} -> {"chain", "not_after"}; mTLS: the client
//	                    certificate is the one renewed
//
// Refusals are JSON {"error"} with HTTP 403 (refused by the CA: revoked,
// unknown, mismatched), 400 (bad request), 503 (the CA is busy) or 500.
package renewal

import (
	"crypto/x509"
	"time"
)

// At is when c is renewed: at two thirds of its lifetime.
func At(c *x509.Certificate) time.Time {
	return c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore) * 2 / 3)
}

// Backoff bounds of the retries after failed renewals.
const (
	RetryMin = 5 * time.Second
	RetryMax = 5 * time.Minute
)

// Retry is the wait after the n-th failure in a row (n >= 1): RetryMin,
// doubling up to RetryMax.
func Retry(n int) time.Duration {
	d := RetryMin
	for i := 1; i < n && d < RetryMax; i++ {
		d *= 2
	}
	return min(d, RetryMax)
}
