package tlspolicy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
)

// openSSLSuite maps an OpenSSL cipher name to its IANA suite ID, for the
// suites crypto/tls knows. Weak suites are listed so that a profile naming
// them is refused for its weakness rather than as an unknown name.
func openSSLSuite(name string) (uint16, bool) {
	switch name {
	case "ECDHE-ECDSA-AES256-GCM-SHA384":
		return tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, true
	case "ECDHE-RSA-AES256-GCM-SHA384":
		return tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, true
	case "ECDHE-ECDSA-AES128-GCM-SHA256":
		return tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, true
	case "ECDHE-RSA-AES128-GCM-SHA256":
		return tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, true
	case "ECDHE-ECDSA-CHACHA20-POLY1305":
		return tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, true
	case "ECDHE-RSA-CHACHA20-POLY1305":
		return tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, true
	case "ECDHE-ECDSA-AES256-SHA":
		return tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, true
	case "ECDHE-RSA-AES256-SHA":
		return tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, true
	case "ECDHE-ECDSA-AES128-SHA":
		return tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, true
	case "ECDHE-RSA-AES128-SHA":
		return tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, true
	case "ECDHE-ECDSA-AES128-SHA256":
		return tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, true
	case "ECDHE-RSA-AES128-SHA256":
		return tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, true
	case "AES256-GCM-SHA384":
		return tls.TLS_RSA_WITH_AES_256_GCM_SHA384, true
	case "AES128-GCM-SHA256":
		return tls.TLS_RSA_WITH_AES_128_GCM_SHA256, true
	case "AES256-SHA":
		return tls.TLS_RSA_WITH_AES_256_CBC_SHA, true
	case "AES128-SHA":
		return tls.TLS_RSA_WITH_AES_128_CBC_SHA, true
	case "AES128-SHA256":
		return tls.TLS_RSA_WITH_AES_128_CBC_SHA256, true
	case "DES-CBC3-SHA":
		return tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, true
	case "ECDHE-RSA-DES-CBC3-SHA":
		return tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, true
	}
	return 0, false
}

// ParseCipherSuite resolves a cipher suite by its IANA name
// (TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_AES_128_GCM_SHA256) or its
// OpenSSL name (ECDHE-ECDSA-AES256-GCM-SHA384). Names are case-insensitive.
func ParseCipherSuite(name string) (uint16, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if id, ok := openSSLSuite(n); ok {
		return id, nil
	}
	for _, list := range [][]*tls.CipherSuite{tls.CipherSuites(), tls.InsecureCipherSuites()} {
		for _, s := range list {
			if s.Name == n {
				return s.ID, nil
			}
		}
	}
	return 0, fmt.Errorf("unknown cipher suite %q (use an IANA name such as TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 or an OpenSSL name such as ECDHE-ECDSA-AES256-GCM-SHA384)", name)
}

// groupByName maps a lower-cased group name, IANA or OpenSSL spelling, to
// its ID.
func groupByName(name string) (tls.CurveID, bool) {
	switch name {
	case "x25519":
		return tls.X25519, true
	case "p-256", "secp256r1", "prime256v1", "curvep256":
		return tls.CurveP256, true
	case "p-384", "secp384r1", "curvep384":
		return tls.CurveP384, true
	case "p-521", "secp521r1", "curvep521":
		return tls.CurveP521, true
	case "x25519mlkem768":
		return tls.X25519MLKEM768, true
	case "secp256r1mlkem768":
		return tls.SecP256r1MLKEM768, true
	case "secp384r1mlkem1024":
		return tls.SecP384r1MLKEM1024, true
	}
	return 0, false
}

// ParseGroup resolves a key exchange group by name: X25519, P-256
// (secp256r1, prime256v1), P-384, P-521, X25519MLKEM768, SecP256r1MLKEM768,
// SecP384r1MLKEM1024. Names are case-insensitive.
func ParseGroup(name string) (tls.CurveID, error) {
	if id, ok := groupByName(strings.ToLower(strings.TrimSpace(name))); ok {
		return id, nil
	}
	return 0, fmt.Errorf("unknown key exchange group %q (known: X25519, P-256, P-384, P-521, X25519MLKEM768, SecP256r1MLKEM768, SecP384r1MLKEM1024)", name)
}

// ParseVersion resolves a protocol version written as 1.2, TLS1.2, TLSv1.2
// or "TLS 1.2" (1.0 to 1.3).
func ParseVersion(s string) (uint16, error) {
	n := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
	n = strings.TrimPrefix(strings.TrimPrefix(n, "tls"), "v")
	switch n {
	case "1.0", "1":
		return tls.VersionTLS10, nil
	case "1.1":
		return tls.VersionTLS11, nil
	case "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("unknown TLS version %q (want 1.2 or 1.3)", s)
}

// ParseSignatureAlgorithm resolves a certificate signature algorithm by the
// name crypto/x509 prints (ECDSA-SHA256, SHA256-RSA, SHA256-RSAPSS,
// Ed25519). Names are case-insensitive.
func ParseSignatureAlgorithm(name string) (x509.SignatureAlgorithm, error) {
	n := strings.TrimSpace(name)
	for a := x509.MD2WithRSA; a <= x509.PureEd25519; a++ {
		if strings.EqualFold(a.String(), n) {
			return a, nil
		}
	}
	return 0, fmt.Errorf("unknown signature algorithm %q (for example ECDSA-SHA256, SHA256-RSA, SHA256-RSAPSS, Ed25519)", name)
}

// SuiteName returns the IANA name of a cipher suite.
func SuiteName(s uint16) string { return tls.CipherSuiteName(s) }

// VersionName returns "TLS 1.2" style names.
func VersionName(v uint16) string { return tls.VersionName(v) }

// GroupName returns the name of a key exchange group, or "none" for 0 (a
// resumed TLS 1.2 session without key exchange reports 0).
func GroupName(g tls.CurveID) string {
	if g == 0 {
		return "none"
	}
	return g.String()
}
