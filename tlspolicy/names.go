package tlspolicy

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"

	"intransit/tlspolicy/suites"
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

// SuiteName returns the IANA name of a cipher suite or signalling value
// (TLS_EMPTY_RENEGOTIATION_INFO_SCSV, TLS_FALLBACK_SCSV, GREASE), and the
// hex code point of one the registry does not list.
func SuiteName(s uint16) string {
	switch {
	case s == 0x00FF:
		return "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"
	case s == 0x5600:
		return "TLS_FALLBACK_SCSV"
	case isGREASE(s):
		return fmt.Sprintf("GREASE(0x%04X)", s)
	}
	return suites.Name(s)
}

// isGREASE reports whether v is one of the values RFC 8701 reserves for
// clients to send so that servers learn to ignore unknown values.
func isGREASE(v uint16) bool { return v&0x0F0F == 0x0A0A && v>>8 == v&0xFF }

// VersionName returns "TLS 1.2" style names, naming the drafts of TLS 1.3
// ("TLS 1.3 draft 22" for 0x7F16) and GREASE values clients still send.
func VersionName(v uint16) string {
	switch {
	case v>>8 == 0x7F:
		return fmt.Sprintf("TLS 1.3 draft %d", v&0xFF)
	case isGREASE(v):
		return fmt.Sprintf("GREASE(0x%04X)", v)
	}
	return tls.VersionName(v)
}

// GroupName returns the name of a key exchange group, the one profile
// files use: P-256, P-384 and P-521 for the NIST curves, crypto/tls's name
// for the other groups it implements (X25519, X25519MLKEM768), the IANA name
// of others a client may offer (X448, ffdhe2048), GREASE, or the hex code
// point; "none" for 0 (a resumed TLS 1.2 session without key exchange
// reports 0).
func GroupName(g tls.CurveID) string {
	switch {
	case g == 0:
		return "none"
	case g == tls.CurveP256:
		return "P-256"
	case g == tls.CurveP384:
		return "P-384"
	case g == tls.CurveP521:
		return "P-521"
	case knownGroup(g):
		return g.String()
	case isGREASE(uint16(g)):
		return fmt.Sprintf("GREASE(0x%04X)", uint16(g))
	}
	if name, ok := otherGroupName(g); ok {
		return name
	}
	return fmt.Sprintf("0x%04X", uint16(g))
}

// otherGroupName names the registered groups crypto/tls does not implement
// that clients still offer.
func otherGroupName(g tls.CurveID) (string, bool) {
	switch g {
	case 0x0016:
		return "secp256k1", true
	case 0x001A:
		return "brainpoolP256r1", true
	case 0x001B:
		return "brainpoolP384r1", true
	case 0x001C:
		return "brainpoolP512r1", true
	case 0x001E:
		return "X448", true
	case 0x001F:
		return "brainpoolP256r1tls13", true
	case 0x0020:
		return "brainpoolP384r1tls13", true
	case 0x0021:
		return "brainpoolP512r1tls13", true
	case 0x0100:
		return "ffdhe2048", true
	case 0x0101:
		return "ffdhe3072", true
	case 0x0102:
		return "ffdhe4096", true
	case 0x0103:
		return "ffdhe6144", true
	case 0x0104:
		return "ffdhe8192", true
	case 0x0200:
		return "MLKEM512", true
	case 0x0201:
		return "MLKEM768", true
	case 0x0202:
		return "MLKEM1024", true
	case 0x6399:
		return "X25519Kyber768Draft00", true
	}
	return "", false
}

// FormatSerial renders a certificate serial number as hex in whole bytes,
// a leading zero kept (as openssl x509 -serial prints it, in lower case):
// the form `intransit pki list` prints and `pki revoke` accepts, so that a
// serial in a log can be looked up as it stands.
func FormatSerial(sn *big.Int) string {
	if sn == nil {
		return ""
	}
	b := sn.Bytes()
	if len(b) == 0 {
		b = []byte{0}
	}
	if sn.Sign() < 0 {
		return "-" + hex.EncodeToString(b)
	}
	return hex.EncodeToString(b)
}

// ConnectionAttrs returns the log attributes of a completed handshake, by
// name: version, suite, group, and for a peer that presented a certificate
// its subject and serial (in the form FormatSerial prints).
func ConnectionAttrs(cs tls.ConnectionState) []any {
	attrs := []any{"version", VersionName(cs.Version), "suite", SuiteName(cs.CipherSuite), "group", GroupName(cs.CurveID), "resumed", cs.DidResume}
	if len(cs.PeerCertificates) > 0 {
		leaf := cs.PeerCertificates[0]
		attrs = append(attrs, "peer_subject", leaf.Subject.String(), "peer_serial", FormatSerial(leaf.SerialNumber))
	}
	return attrs
}
