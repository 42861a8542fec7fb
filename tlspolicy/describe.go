package tlspolicy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
)

// Describe writes what the profile allows, one rule a line, each line
// starting with indent: versions, TLS 1.2 and TLS 1.3 cipher suites in
// preference order, key exchange groups, certificate keys and signature
// algorithms. It is made from the profile itself, so help texts and reports
// built on it say exactly what is enforced.
func (p *Profile) Describe(indent string) string {
	var b strings.Builder
	line := func(label, value string) {
		fmt.Fprintf(&b, "%s%-15s %s\n", indent, label+":", wrap(value, 80-len(indent)-16, indent+strings.Repeat(" ", 16)))
	}
	versions := VersionName(p.MinVersion)
	if p.MaxVersion != p.MinVersion {
		versions += " to " + VersionName(p.MaxVersion)
	}
	line("versions", versions)
	if p.MinVersion <= tls.VersionTLS12 {
		line("TLS 1.2 suites", nameList(p.CipherSuites, SuiteName))
	}
	if p.MaxVersion >= tls.VersionTLS13 {
		line("TLS 1.3 suites", nameList(p.TLS13CipherSuites, SuiteName))
	}
	line("groups", groupList(p.Groups))
	line("keys", p.Keys.describe())
	line("signatures", nameList(p.SignatureAlgorithms, func(a x509.SignatureAlgorithm) string { return a.String() }))
	return b.String()
}

// describe says which certificate keys the policy allows.
func (k KeyPolicy) describe() string {
	var parts []string
	if k.MinRSABits > 0 {
		parts = append(parts, fmt.Sprintf("RSA >= %d bits", k.MinRSABits))
	}
	if len(k.ECDSACurves) > 0 {
		parts = append(parts, "ECDSA "+strings.Join(k.ECDSACurves, ", "))
	}
	if k.Ed25519 {
		parts = append(parts, "Ed25519")
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// nameList joins the names of a list, or says "none".
func nameList[T any](items []T, name func(T) string) string {
	if len(items) == 0 {
		return "none"
	}
	names := make([]string, len(items))
	for i, it := range items {
		names[i] = name(it)
	}
	return strings.Join(names, ", ")
}

// wrap breaks a comma-separated list after a comma so that no line is
// longer than width, starting continuation lines with prefix.
func wrap(list string, width int, prefix string) string {
	var lines []string
	cur := ""
	for _, item := range strings.Split(list, ", ") {
		switch {
		case cur == "":
			cur = item
		case len(cur)+2+len(item) > width:
			lines = append(lines, cur+",")
			cur = item
		default:
			cur += ", " + item
		}
	}
	return strings.Join(append(lines, cur), "\n"+prefix)
}
