package docs

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"

	"intransit/tlspolicy"
)

// ProfileTable renders what each built-in TLS profile allows as a Markdown
// table, from the profiles themselves: one column per profile, one row per
// rule.
func ProfileTable() (string, error) {
	names := tlspolicy.BuiltinNames()
	profiles := make([]*tlspolicy.Profile, len(names))
	for i, n := range names {
		p, err := tlspolicy.Builtin(n)
		if err != nil {
			return "", err
		}
		profiles[i] = p
	}
	rows := []struct {
		label string
		value func(*tlspolicy.Profile) string
	}{
		{"versions", func(p *tlspolicy.Profile) string {
			if p.MinVersion == p.MaxVersion {
				return tlspolicy.VersionName(p.MinVersion) + " only"
			}
			return tlspolicy.VersionName(p.MinVersion) + " to " + tlspolicy.VersionName(p.MaxVersion)
		}},
		{"TLS 1.2 cipher suites, in order", func(p *tlspolicy.Profile) string {
			if p.MinVersion > tls.VersionTLS12 {
				return "(no TLS 1.2)"
			}
			return list(p.CipherSuites, tlspolicy.SuiteName)
		}},
		{"TLS 1.3 cipher suites", func(p *tlspolicy.Profile) string {
			return list(p.TLS13CipherSuites, tlspolicy.SuiteName)
		}},
		{"key exchange groups, in order", func(p *tlspolicy.Profile) string {
			s := list(p.Groups, tlspolicy.GroupName)
			if p.RequiresPQ() {
				s += " (hybrid post-quantum only)"
			}
			return s
		}},
		{"certificate keys", func(p *tlspolicy.Profile) string {
			var parts []string
			if p.Keys.MinRSABits > 0 {
				parts = append(parts, fmt.Sprintf("RSA >= %d bits", p.Keys.MinRSABits))
			}
			if len(p.Keys.ECDSACurves) > 0 {
				parts = append(parts, "ECDSA "+strings.Join(p.Keys.ECDSACurves, ", "))
			}
			if p.Keys.Ed25519 {
				parts = append(parts, "Ed25519")
			}
			return strings.Join(parts, "; ")
		}},
		{"certificate signatures", func(p *tlspolicy.Profile) string {
			return list(p.SignatureAlgorithms, func(a x509.SignatureAlgorithm) string { return a.String() })
		}},
	}
	var b strings.Builder
	b.WriteString("| |")
	for _, n := range names {
		fmt.Fprintf(&b, " `%s` |", n)
	}
	b.WriteString("\n| --- |")
	for range names {
		b.WriteString(" --- |")
	}
	b.WriteString("\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s |", r.label)
		for _, p := range profiles {
			fmt.Fprintf(&b, " %s |", r.value(p))
		}
		b.WriteString("\n")
	}
	return b.String(), nil
}

// list joins the names of items with <br> (one a line in the table), or
// says "none".
func list[T any](items []T, name func(T) string) string {
	if len(items) == 0 {
		return "none"
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = name(it)
	}
	return strings.Join(out, "<br>")
}
