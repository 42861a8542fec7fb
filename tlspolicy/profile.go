// Package tlspolicy decides what TLS is acceptable for intransit and for the
// services of its users: named profiles, tls.Config builders that enforce
// them, peer verification, linting of foreign configurations, and the mTLS
// proxy.
package tlspolicy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"
	"sort"
)

// Profile is a named set of rules for acceptable TLS. Every list is explicit:
// Go's crypto/tls defaults are never the policy. A Profile is a value; the
// built-in ones are built afresh by Builtin, so callers may modify theirs.
type Profile struct {
	// Name identifies the profile in logs, metrics and audit reports.
	Name string
	// MinVersion and MaxVersion bound the protocol version (tls.VersionTLS12...).
	MinVersion, MaxVersion uint16
	// CipherSuites are the TLS 1.2 suites allowed, in preference order.
	CipherSuites []uint16
	// TLS13CipherSuites are the TLS 1.3 suites allowed. crypto/tls does not let
	// a config choose them, so they are enforced after the handshake.
	TLS13CipherSuites []uint16
	// Groups are the key exchange groups allowed, in preference order.
	Groups []tls.CurveID
	// Keys bounds the certificate keys of both ends.
	Keys KeyPolicy
	// SignatureAlgorithms are the certificate signature algorithms allowed.
	SignatureAlgorithms []x509.SignatureAlgorithm
}

// KeyPolicy bounds the public keys that certificates may carry.
type KeyPolicy struct {
	// MinRSABits is the smallest RSA modulus allowed; 0 forbids RSA keys.
	MinRSABits int
	// ECDSACurves names the allowed curves ("P-256", "P-384", "P-521").
	ECDSACurves []string
	// Ed25519 allows Ed25519 keys.
	Ed25519 bool
}

// Names of the built-in profiles.
const (
	Baseline = "baseline"
	Modern   = "modern"
	FIPS     = "fips"
	PQ       = "pq"
)

// BuiltinNames lists the built-in profiles in order of strictness.
func BuiltinNames() []string { return []string{Baseline, Modern, FIPS, PQ} }

// Builtin returns a fresh copy of the named built-in profile.
func Builtin(name string) (*Profile, error) {
	sha256Plus := []x509.SignatureAlgorithm{
		x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512,
		x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS,
		x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA,
		x509.PureEd25519,
	}
	allTLS13 := []uint16{tls.TLS_AES_256_GCM_SHA384, tls.TLS_AES_128_GCM_SHA256, tls.TLS_CHACHA20_POLY1305_SHA256}
	classicKeys := KeyPolicy{MinRSABits: 2048, ECDSACurves: []string{"P-256", "P-384", "P-521"}, Ed25519: true}
	switch name {
	case Baseline:
		return &Profile{
			Name:       Baseline,
			MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13,
			CipherSuites: []uint16{
				tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
				tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
				tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			},
			TLS13CipherSuites:   allTLS13,
			Groups:              []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256, tls.CurveP384},
			Keys:                classicKeys,
			SignatureAlgorithms: sha256Plus,
		}, nil
	case Modern:
		return &Profile{
			Name:       Modern,
			MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS13,
			TLS13CipherSuites:   allTLS13,
			Groups:              []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256, tls.CurveP384},
			Keys:                classicKeys,
			SignatureAlgorithms: sha256Plus,
		}, nil
	case FIPS:
		return &Profile{
			Name:       FIPS,
			MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13,
			CipherSuites: []uint16{
				tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
				tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			},
			TLS13CipherSuites: []uint16{tls.TLS_AES_256_GCM_SHA384, tls.TLS_AES_128_GCM_SHA256},
			Groups:            []tls.CurveID{tls.SecP256r1MLKEM768, tls.CurveP256, tls.CurveP384},
			Keys:              KeyPolicy{MinRSABits: 2048, ECDSACurves: []string{"P-256", "P-384"}},
			SignatureAlgorithms: []x509.SignatureAlgorithm{
				x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512,
				x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS,
				x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA,
			},
		}, nil
	case PQ:
		return &Profile{
			Name:       PQ,
			MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS13,
			TLS13CipherSuites:   allTLS13,
			Groups:              []tls.CurveID{tls.X25519MLKEM768, tls.SecP256r1MLKEM768, tls.SecP384r1MLKEM1024},
			Keys:                classicKeys,
			SignatureAlgorithms: sha256Plus,
		}, nil
	}
	return nil, fmt.Errorf("unknown TLS profile %q (built-in profiles: %v)", name, BuiltinNames())
}

// IsHybridPQ reports whether g is a hybrid post-quantum key exchange.
func IsHybridPQ(g tls.CurveID) bool {
	switch g {
	case tls.X25519MLKEM768, tls.SecP256r1MLKEM768, tls.SecP384r1MLKEM1024:
		return true
	}
	return false
}

// RequiresPQ reports whether every group the profile allows is hybrid
// post-quantum, so that a classical-only peer is refused.
func (p *Profile) RequiresPQ() bool {
	if len(p.Groups) == 0 {
		return false
	}
	for _, g := range p.Groups {
		if !IsHybridPQ(g) {
			return false
		}
	}
	return true
}

// AllowsVersion reports whether protocol version v is within the profile.
func (p *Profile) AllowsVersion(v uint16) bool {
	return v >= p.MinVersion && v <= p.MaxVersion
}

// AllowsSuite reports whether cipher suite s may be negotiated at version v.
func (p *Profile) AllowsSuite(v, s uint16) bool {
	if !p.AllowsVersion(v) {
		return false
	}
	if v >= tls.VersionTLS13 {
		return slices.Contains(p.TLS13CipherSuites, s)
	}
	return slices.Contains(p.CipherSuites, s)
}

// AllowsGroup reports whether key exchange group g is allowed.
func (p *Profile) AllowsGroup(g tls.CurveID) bool { return slices.Contains(p.Groups, g) }

// AllowsSignatureAlgorithm reports whether a certificate signed with a may be
// accepted.
func (p *Profile) AllowsSignatureAlgorithm(a x509.SignatureAlgorithm) bool {
	return slices.Contains(p.SignatureAlgorithms, a)
}

// CheckPublicKey returns an error naming the rule broken when pub is not an
// allowed certificate key.
func (p *Profile) CheckPublicKey(pub crypto.PublicKey) error {
	return p.Keys.Check(pub)
}

// Check returns an error naming the rule broken when pub is not allowed.
func (k KeyPolicy) Check(pub crypto.PublicKey) error {
	switch key := pub.(type) {
	case *rsa.PublicKey:
		if k.MinRSABits == 0 {
			return fmt.Errorf("RSA keys are not allowed")
		}
		if bits := key.N.BitLen(); bits < k.MinRSABits {
			return fmt.Errorf("RSA key of %d bits is below the minimum of %d", bits, k.MinRSABits)
		}
		return nil
	case *ecdsa.PublicKey:
		name := key.Curve.Params().Name
		if !slices.Contains(k.ECDSACurves, name) {
			return fmt.Errorf("ECDSA curve %s is not allowed (allowed: %v)", name, k.ECDSACurves)
		}
		return nil
	case ed25519.PublicKey:
		if !k.Ed25519 {
			return fmt.Errorf("Ed25519 keys are not allowed")
		}
		return nil
	}
	return fmt.Errorf("key type %T is not allowed", pub)
}

// Validate checks that the profile is internally consistent and never weaker
// than intransit's floor: TLS 1.2 or later, only forward-secret AEAD suites,
// only known groups, RSA >= 2048, ECDSA >= P-256 and signatures with SHA-256
// or better. The error names the first rule broken.
func (p *Profile) Validate() error {
	if p.Name == "" {
		return fmt.Errorf("profile has no name")
	}
	if p.MinVersion < tls.VersionTLS12 {
		return fmt.Errorf("profile %s: minimum version %s is below TLS 1.2", p.Name, tls.VersionName(p.MinVersion))
	}
	if p.MaxVersion > tls.VersionTLS13 || p.MaxVersion < p.MinVersion {
		return fmt.Errorf("profile %s: maximum version %s is not between %s and TLS 1.3", p.Name, tls.VersionName(p.MaxVersion), tls.VersionName(p.MinVersion))
	}
	if p.MinVersion <= tls.VersionTLS12 && len(p.CipherSuites) == 0 {
		return fmt.Errorf("profile %s: allows TLS 1.2 but lists no TLS 1.2 cipher suite", p.Name)
	}
	for _, s := range p.CipherSuites {
		if !ForwardSecretAEAD(s) {
			return fmt.Errorf("profile %s: cipher suite %s is not an ECDHE suite with an AEAD cipher", p.Name, tls.CipherSuiteName(s))
		}
	}
	if p.MaxVersion == tls.VersionTLS13 && len(p.TLS13CipherSuites) == 0 {
		return fmt.Errorf("profile %s: allows TLS 1.3 but lists no TLS 1.3 cipher suite", p.Name)
	}
	for _, s := range p.TLS13CipherSuites {
		if !isTLS13Suite(s) {
			return fmt.Errorf("profile %s: %s is not a TLS 1.3 cipher suite", p.Name, tls.CipherSuiteName(s))
		}
	}
	if len(p.Groups) == 0 {
		return fmt.Errorf("profile %s: lists no key exchange group", p.Name)
	}
	for _, g := range p.Groups {
		if !knownGroup(g) {
			return fmt.Errorf("profile %s: key exchange group %s is not allowed", p.Name, g)
		}
		if IsHybridPQ(g) && p.MaxVersion < tls.VersionTLS13 {
			return fmt.Errorf("profile %s: hybrid group %s needs TLS 1.3", p.Name, g)
		}
	}
	if p.Keys.MinRSABits != 0 && p.Keys.MinRSABits < 2048 {
		return fmt.Errorf("profile %s: minimum RSA key of %d bits is below 2048", p.Name, p.Keys.MinRSABits)
	}
	for _, c := range p.Keys.ECDSACurves {
		if c != "P-256" && c != "P-384" && c != "P-521" {
			return fmt.Errorf("profile %s: ECDSA curve %q is not allowed (P-256, P-384, P-521)", p.Name, c)
		}
	}
	if p.Keys.MinRSABits == 0 && len(p.Keys.ECDSACurves) == 0 && !p.Keys.Ed25519 {
		return fmt.Errorf("profile %s: allows no certificate key type", p.Name)
	}
	if len(p.SignatureAlgorithms) == 0 {
		return fmt.Errorf("profile %s: lists no signature algorithm", p.Name)
	}
	for _, a := range p.SignatureAlgorithms {
		if !strongSignature(a) {
			return fmt.Errorf("profile %s: signature algorithm %s uses a hash weaker than SHA-256", p.Name, a)
		}
	}
	return nil
}

// ForwardSecretAEAD reports whether a TLS 1.2 suite uses an ephemeral ECDHE
// key exchange and an AEAD cipher.
func ForwardSecretAEAD(s uint16) bool {
	switch s {
	case tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:
		return true
	}
	return false
}

func isTLS13Suite(s uint16) bool {
	return s == tls.TLS_AES_128_GCM_SHA256 || s == tls.TLS_AES_256_GCM_SHA384 || s == tls.TLS_CHACHA20_POLY1305_SHA256
}

func knownGroup(g tls.CurveID) bool {
	switch g {
	case tls.X25519, tls.CurveP256, tls.CurveP384, tls.CurveP521,
		tls.X25519MLKEM768, tls.SecP256r1MLKEM768, tls.SecP384r1MLKEM1024:
		return true
	}
	return false
}

func strongSignature(a x509.SignatureAlgorithm) bool {
	switch a {
	case x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512,
		x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS,
		x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA, x509.PureEd25519:
		return true
	}
	return false
}

// SortedGroupNames returns the names of the profile's groups, sorted, for
// stable reports.
func (p *Profile) SortedGroupNames() []string {
	names := make([]string, 0, len(p.Groups))
	for _, g := range p.Groups {
		names = append(names, GroupName(g))
	}
	sort.Strings(names)
	return names
}
