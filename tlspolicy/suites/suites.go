// Package suites is the IANA registry of TLS cipher suites: code points,
// registered names, and what each name says about the key exchange, the
// cipher and the MAC, so that an audit can name what it found and say why a
// suite is weak.
package suites

import (
	"fmt"
	"strings"
)

// Suite is one registered cipher suite.
type Suite struct {
	// ID is the two-byte code point sent on the wire.
	ID uint16
	// Name is the IANA name, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256.
	Name string
}

// TLS12 returns every cipher suite of the registry usable with SSL 3.0 to
// TLS 1.2, in code point order. The slice is the caller's.
func TLS12() []Suite { return registryTLS12() }

// TLS13 returns the TLS 1.3 cipher suites of the registry. The slice is the
// caller's.
func TLS13() []Suite { return registryTLS13() }

// Lookup returns the registered suite with code point id.
func Lookup(id uint16) (Suite, bool) {
	for _, s := range registryTLS12() {
		if s.ID == id {
			return s, true
		}
	}
	for _, s := range registryTLS13() {
		if s.ID == id {
			return s, true
		}
	}
	return Suite{}, false
}

// Name returns the registered name of id, or its hex code point when the
// registry does not list it.
func Name(id uint16) string {
	if s, ok := Lookup(id); ok {
		return s.Name
	}
	return fmt.Sprintf("0x%04X", id)
}

// IsTLS13 reports whether the suite is a TLS 1.3 suite (no key exchange or
// authentication in its name).
func (s Suite) IsTLS13() bool { return s.ID>>8 == 0x13 }

// KeyExchange returns the key exchange and authentication part of the name,
// e.g. "ECDHE_RSA", "RSA", "DH_anon", or "" for TLS 1.3 suites.
func (s Suite) KeyExchange() string {
	if s.IsTLS13() {
		return ""
	}
	rest := strings.TrimPrefix(s.Name, "TLS_")
	kx, _, found := strings.Cut(rest, "_WITH_")
	if !found {
		return ""
	}
	return kx
}

// Cipher returns the bulk cipher part of the name, e.g. "AES_128_GCM",
// "3DES_EDE_CBC", "NULL".
func (s Suite) Cipher() string {
	rest := strings.TrimPrefix(s.Name, "TLS_")
	if _, after, found := strings.Cut(rest, "_WITH_"); found {
		rest = after
	}
	for _, mac := range []string{"_SHA384", "_SHA256", "_SHA", "_MD5"} {
		if strings.HasSuffix(rest, mac) {
			return strings.TrimSuffix(rest, mac)
		}
	}
	return rest
}

// ForwardSecret reports whether the key exchange is ephemeral, so that a
// stolen server key does not decrypt recorded sessions.
func (s Suite) ForwardSecret() bool {
	if s.IsTLS13() {
		return true
	}
	kx := s.KeyExchange()
	return strings.HasPrefix(kx, "DHE_") || strings.HasPrefix(kx, "ECDHE_") ||
		kx == "ECCPWD" || kx == "PSK_DHE"
}

// AEAD reports whether the cipher is an authenticated encryption mode.
func (s Suite) AEAD() bool {
	c := s.Cipher()
	return strings.Contains(c, "GCM") || strings.Contains(c, "CCM") || strings.Contains(c, "POLY1305")
}

// Weaknesses lists what is wrong with the suite by today's standards, worst
// first; it is empty for a forward-secret AEAD suite with authentication.
func (s Suite) Weaknesses() []string {
	var w []string
	kx, c, name := s.KeyExchange(), s.Cipher(), s.Name
	switch {
	case strings.Contains(c, "NULL"):
		w = append(w, "NULL cipher (no encryption)")
	case strings.Contains(name, "EXPORT"):
		w = append(w, "export-grade cipher")
	}
	if strings.Contains(kx, "anon") {
		w = append(w, "anonymous key exchange (no server authentication)")
	}
	switch {
	case strings.Contains(c, "RC4"):
		w = append(w, "RC4 stream cipher")
	case strings.Contains(c, "3DES"), strings.Contains(c, "DES"), strings.Contains(c, "IDEA"),
		strings.Contains(c, "RC2"), strings.Contains(c, "MAGMA"), strings.Contains(c, "28147"):
		w = append(w, "64-bit block cipher")
	}
	if !s.ForwardSecret() {
		w = append(w, fmt.Sprintf("no forward secrecy (%s key exchange)", kx))
	}
	if strings.Contains(c, "CBC") {
		w = append(w, "CBC mode (MAC-then-encrypt)")
	}
	if strings.HasSuffix(name, "_MD5") {
		w = append(w, "MD5 MAC")
	}
	if strings.HasSuffix(name, "_SHA") {
		w = append(w, "SHA-1 MAC")
	}
	return w
}
