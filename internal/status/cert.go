package status

import (
	"crypto/x509"
	"fmt"
	"time"

	"intransit/tlspolicy"
)

// WarnBefore is how long before its expiry a certificate that is not
// renewed (none configured, or the renewal keeps failing) is reported as
// expiring.
const WarnBefore = 30 * 24 * time.Hour

// Certificate states.
const (
	CertOK       = "ok"       // valid, renewed in time or far from expiry
	CertRetrying = "retrying" // the last renewal failed; retried with backoff
	CertExpiring = "expiring" // expires within WarnBefore and is not renewed
	CertExpired  = "expired"  // past its expiry
)

// Certificate is one certificate the daemon depends on: its own, a proxy's,
// or a CA certificate it holds.
type Certificate struct {
	// Name says which certificate: "identity", "proxy", "ca root",
	// "ca intermediate".
	Name string `json:"name"`
	// Subject and Serial identify it (serial in hex, as openssl prints it).
	Subject string `json:"subject"`
	Serial  string `json:"serial"`
	// NotAfter is its expiry.
	NotAfter time.Time `json:"not_after"`
	// RenewAt is when it renews itself; zero when it does not.
	RenewAt time.Time `json:"renew_at,omitzero"`
	// Renewals counts the renewals done since the daemon started.
	Renewals int `json:"renewals,omitempty"`
	// LastError is why the last renewal failed, NextAttempt when it is
	// tried again; empty and zero after a success.
	LastError   string    `json:"last_error,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// State is one of the Cert constants, Warning the sentence to show
	// when it is not CertOK.
	State   string `json:"state"`
	Warning string `json:"warning,omitempty"`
}

// CertificateOf describes c under name, judged at now.
func CertificateOf(name string, c *x509.Certificate, now time.Time) Certificate {
	out := Certificate{Name: name, Subject: c.Subject.String(), Serial: tlspolicy.FormatSerial(c.SerialNumber), NotAfter: c.NotAfter}
	out.Judge(now)
	return out
}

// Judge sets State and Warning from the expiry, the renewal time and the
// last renewal error, at now. A certificate within WarnBefore of its
// expiry is expiring only when it does not renew itself or its renewal
// time has passed: one renewed at two thirds of a short life does not
// warn while all goes well.
func (c *Certificate) Judge(now time.Time) {
	left := c.NotAfter.Sub(now)
	switch {
	case left <= 0:
		c.State = CertExpired
		c.Warning = fmt.Sprintf("%s certificate expired at %s", c.Name, c.NotAfter.UTC().Format(time.RFC3339))
	case left <= WarnBefore && (c.RenewAt.IsZero() || !now.Before(c.RenewAt)):
		c.State = CertExpiring
		c.Warning = fmt.Sprintf("%s certificate expires in %s (%s)", c.Name, left.Round(time.Second), c.NotAfter.UTC().Format(time.RFC3339))
		if c.RenewAt.IsZero() {
			c.Warning += " and is not renewed automatically"
		}
	case c.LastError != "":
		c.State = CertRetrying
		c.Warning = ""
	default:
		c.State, c.Warning = CertOK, ""
	}
	if c.LastError != "" {
		if c.Warning != "" {
			c.Warning += "; "
		}
		c.Warning += "renewal failing: " + c.LastError
		if !c.NextAttempt.IsZero() {
			c.Warning += ", next attempt " + c.NextAttempt.UTC().Format(time.RFC3339)
		}
	}
}
