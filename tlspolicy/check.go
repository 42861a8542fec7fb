package tlspolicy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
)

// Severity ranks a Finding.
type Severity string

// Severities of findings.
const (
	// SeverityError: the config allows something the profile forbids.
	SeverityError Severity = "error"
	// SeverityWarning: the config relies on crypto/tls defaults or on
	// callbacks the linter cannot see into.
	SeverityWarning Severity = "warning"
)

// Finding is one way a tls.Config departs from a profile.
type Finding struct {
	// Severity ranks the finding.
	Severity Severity `json:"severity"`
	// Field names the tls.Config field concerned.
	Field string `json:"field"`
	// Message says what is wrong and which rule of the profile it breaks.
	Message string `json:"message"`
}

// String formats the finding as "severity: field: message".
func (f Finding) String() string { return fmt.Sprintf("%s: %s: %s", f.Severity, f.Field, f.Message) }

// Check lints a foreign tls.Config against a profile and returns what breaks
// it, errors first in field order. A config with no findings sets every list
// explicitly within the profile. TLS 1.3 suites cannot be set in a
// tls.Config, so they are not checked here.
func Check(cfg *tls.Config, p *Profile) []Finding {
	var out []Finding
	add := func(sev Severity, field, format string, args ...any) {
		out = append(out, Finding{Severity: sev, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	switch {
	case cfg.MinVersion == 0:
		add(SeverityWarning, "MinVersion", "not set: relies on the crypto/tls default instead of %s", VersionName(p.MinVersion))
	case cfg.MinVersion < p.MinVersion:
		add(SeverityError, "MinVersion", "%s is below the profile's %s", VersionName(cfg.MinVersion), VersionName(p.MinVersion))
	}
	switch {
	case cfg.MaxVersion == 0:
		if p.MaxVersion != tls.VersionTLS13 {
			add(SeverityError, "MaxVersion", "not set: allows TLS 1.3, above the profile's %s", VersionName(p.MaxVersion))
		}
	case cfg.MaxVersion > p.MaxVersion || cfg.MaxVersion < p.MinVersion:
		add(SeverityError, "MaxVersion", "%s is outside the profile's %s to %s", VersionName(cfg.MaxVersion), VersionName(p.MinVersion), VersionName(p.MaxVersion))
	}
	allowsTLS12 := (cfg.MinVersion == 0 || cfg.MinVersion <= tls.VersionTLS12) && (cfg.MaxVersion == 0 || cfg.MaxVersion >= tls.VersionTLS12)
	if allowsTLS12 {
		if len(cfg.CipherSuites) == 0 {
			add(SeverityError, "CipherSuites", "not set: crypto/tls defaults include suites outside profile %s", p.Name)
		}
		for _, s := range cfg.CipherSuites {
			if !p.AllowsSuite(tls.VersionTLS12, s) {
				add(SeverityError, "CipherSuites", "%s is not allowed by profile %s", SuiteName(s), p.Name)
			}
		}
	}
	if len(cfg.CurvePreferences) == 0 {
		add(SeverityError, "CurvePreferences", "not set: crypto/tls defaults are not the policy (profile %s allows %s)", p.Name, groupList(p.Groups))
	}
	for _, g := range cfg.CurvePreferences {
		if !p.AllowsGroup(g) {
			add(SeverityError, "CurvePreferences", "%s is not allowed by profile %s", GroupName(g), p.Name)
		}
	}
	for i, c := range cfg.Certificates {
		leaf := c.Leaf
		if leaf == nil && len(c.Certificate) > 0 {
			var err error
			if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
				add(SeverityError, fmt.Sprintf("Certificates[%d]", i), "does not parse: %v", err)
				continue
			}
		}
		if leaf == nil {
			continue
		}
		if err := p.CheckPublicKey(leaf.PublicKey); err != nil {
			add(SeverityError, fmt.Sprintf("Certificates[%d]", i), "%q: %v", leaf.Subject.CommonName, err)
		}
		if !p.AllowsSignatureAlgorithm(leaf.SignatureAlgorithm) {
			add(SeverityError, fmt.Sprintf("Certificates[%d]", i), "%q is signed with %s, not allowed by profile %s", leaf.Subject.CommonName, leaf.SignatureAlgorithm, p.Name)
		}
	}
	verifiesByCallback := cfg.VerifyConnection != nil || cfg.VerifyPeerCertificate != nil
	if cfg.InsecureSkipVerify && !verifiesByCallback {
		add(SeverityError, "InsecureSkipVerify", "server certificates are not verified")
	}
	if (cfg.ClientAuth == tls.RequestClientCert || cfg.ClientAuth == tls.RequireAnyClientCert) && !verifiesByCallback {
		add(SeverityError, "ClientAuth", "%s accepts client certificates without verifying them", cfg.ClientAuth)
	}
	if cfg.Renegotiation != tls.RenegotiateNever {
		add(SeverityError, "Renegotiation", "renegotiation is allowed")
	}
	if cfg.KeyLogWriter != nil {
		add(SeverityError, "KeyLogWriter", "session secrets are written out")
	}
	if cfg.GetConfigForClient != nil {
		add(SeverityWarning, "GetConfigForClient", "may replace the config per connection; the replacement is not checked")
	}
	if cfg.GetCertificate != nil {
		add(SeverityWarning, "GetCertificate", "certificates chosen per connection are not checked")
	}
	sortFindings(out)
	return out
}

func sortFindings(fs []Finding) {
	errorsFirst := make([]Finding, 0, len(fs))
	for _, sev := range []Severity{SeverityError, SeverityWarning} {
		for _, f := range fs {
			if f.Severity == sev {
				errorsFirst = append(errorsFirst, f)
			}
		}
	}
	copy(fs, errorsFirst)
}
