package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"intransit/tlspolicy"
)

// Names of the issuance profiles.
const (
	ProfileGateway = "gateway"
	ProfileServer  = "server"
	ProfileClient  = "client"
	// ProfileAdmin is an operator of the gateways: a client certificate
	// (identity intransit://<ca>/admin/<name>) that the web console
	// accepts on an address other than loopback.
	ProfileAdmin = "admin"
)

// Profile is an issuance policy: what a certificate is for, which keys it
// may carry and how long it may live. A request outside the policy is
// refused with the rule it broke; nothing is adjusted silently.
type Profile struct {
	// Name identifies the profile.
	Name string
	// Description says what the profile is for, for help texts.
	Description string
	// ExtKeyUsage lists the extended key usages of issued certificates.
	ExtKeyUsage []x509.ExtKeyUsage
	// Keys bounds the subject public keys accepted.
	Keys tlspolicy.KeyPolicy
	// DefaultTTL is the lifetime when a request names none.
	DefaultTTL time.Duration
	// MaxTTL is the longest lifetime a request may ask for.
	MaxTTL time.Duration
	// HostNames says whether DNS and IP subject alternative names are
	// required (true) or refused (false).
	HostNames bool
}

// ProfileNames lists the profiles.
func ProfileNames() []string {
	return []string{ProfileGateway, ProfileServer, ProfileClient, ProfileAdmin}
}

// LookupProfile returns the named profile, or a Refusal naming the
// profiles that exist.
func LookupProfile(name string) (Profile, error) {
	keys := tlspolicy.KeyPolicy{MinRSABits: 2048, ECDSACurves: []string{"P-256", "P-384"}, Ed25519: true}
	const day = 24 * time.Hour
	switch name {
	case ProfileGateway:
		return Profile{
			Name:        ProfileGateway,
			Description: "a tunnel gateway: TLS server and client (serverAuth + clientAuth), DNS/IP names required",
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			Keys:        keys, DefaultTTL: 90 * day, MaxTTL: 397 * day, HostNames: true,
		}, nil
	case ProfileServer:
		return Profile{
			Name:        ProfileServer,
			Description: "a TLS server (serverAuth), DNS/IP names required",
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			Keys:        keys, DefaultTTL: 90 * day, MaxTTL: 397 * day, HostNames: true,
		}, nil
	case ProfileClient:
		return Profile{
			Name:        ProfileClient,
			Description: "a user or device (clientAuth), identified by the URI intransit://<ca>/client/<name>",
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			Keys:        keys, DefaultTTL: 30 * day, MaxTTL: 90 * day, HostNames: false,
		}, nil
	case ProfileAdmin:
		return Profile{
			Name:        ProfileAdmin,
			Description: "an operator of the web console (clientAuth), identified by the URI intransit://<ca>/admin/<name>",
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			Keys:        keys, DefaultTTL: 30 * day, MaxTTL: 90 * day, HostNames: false,
		}, nil
	}
	return Profile{}, refusef("unknown profile %q (profiles: %s)", name, strings.Join(ProfileNames(), ", "))
}

// Refusal is the error for a request the CA refuses on purpose because it
// breaks a rule (policy, unknown serial, existing PKI). Rule says which.
type Refusal struct {
	// Rule is the rule broken, as a sentence for the operator.
	Rule string
	// Err is the underlying cause, if any.
	Err error
}

// Error returns the rule broken.
func (r *Refusal) Error() string { return r.Rule }

// Unwrap returns the underlying cause.
func (r *Refusal) Unwrap() error { return r.Err }

// IsRefusal reports whether err is or wraps a Refusal.
func IsRefusal(err error) bool {
	var r *Refusal
	return errors.As(err, &r)
}

func refusef(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Refusal{Rule: err.Error(), Err: errors.Unwrap(err)}
}

// strongSignature reports whether a CSR or certificate signature uses
// SHA-256 or better (or Ed25519).
func strongSignature(a x509.SignatureAlgorithm) bool {
	return slices.Contains([]x509.SignatureAlgorithm{
		x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512,
		x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS,
		x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA, x509.PureEd25519,
	}, a)
}
