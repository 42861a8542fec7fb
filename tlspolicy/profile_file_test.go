package tlspolicy

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseProfile(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // substring of the error; empty: must parse
	}{
		{"full", `
name: internal
min_version: "1.2"
max_version: TLSv1.3
cipher_suites: [ECDHE-ECDSA-AES256-GCM-SHA384, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
tls13_cipher_suites: [TLS_AES_256_GCM_SHA384]
groups: [X25519MLKEM768, secp256r1]
keys: {min_rsa_bits: 3072, ecdsa_curves: [P-384]}
signature_algorithms: [ECDSA-SHA384, SHA256-RSAPSS]
`, ""},
		{"base only", "name: mine\nbase: fips\n", ""},
		{"unknown key", "name: x\nbase: baseline\nciphers: [AES256-SHA]\n", "line 3: field ciphers not found"},
		{"wrong type", "name: x\nbase: baseline\nkeys:\n  min_rsa_bits: lots\n", "line 4"},
		{"unknown suite", "name: x\nbase: baseline\ncipher_suites:\n  - ECDHE-ECDSA-AES256-GCM-SHA384\n  - NOPE\n", `line 5: unknown cipher suite "NOPE"`},
		{"unknown group", "name: x\nbase: baseline\ngroups: [X448]\n", `line 3: unknown key exchange group "X448"`},
		{"non-PFS suite", "name: x\nbase: baseline\ncipher_suites: [AES256-SHA]\n", "TLS_RSA_WITH_AES_256_CBC_SHA is not an ECDHE suite with an AEAD cipher"},
		{"CBC suite", "name: x\nbase: baseline\ncipher_suites: [ECDHE-RSA-AES128-SHA]\n", "is not an ECDHE suite with an AEAD cipher"},
		{"TLS 1.0", "name: x\nbase: baseline\nmin_version: \"1.0\"\n", "minimum version TLS 1.0 is below TLS 1.2"},
		{"small RSA", "name: x\nbase: baseline\nkeys: {min_rsa_bits: 1024}\n", "1024 bits is below 2048"},
		{"SHA-1 signatures", "name: x\nbase: baseline\nsignature_algorithms: [SHA1-RSA]\n", "weaker than SHA-256"},
		{"no name", "base: baseline\n", "no name"},
		{"unknown base", "name: x\nbase: legacy\n", `unknown TLS profile "legacy"`},
		{"empty", "", "empty profile"},
		{"two documents", "name: x\nbase: baseline\n---\nname: y\n", "more than one YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseProfile([]byte(tt.yaml))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ParseProfile: %v", err)
				}
				if err := p.Validate(); err != nil {
					t.Fatalf("parsed profile does not validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	p, err := ParseProfile([]byte("name: internal\nbase: baseline\ngroups: [X25519MLKEM768, secp256r1]\nkeys: {min_rsa_bits: 3072, ecdsa_curves: [P-384]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Groups, []tls.CurveID{tls.X25519MLKEM768, tls.CurveP256}) || p.Keys.MinRSABits != 3072 || p.Keys.Ed25519 || p.MinVersion != tls.VersionTLS12 {
		t.Errorf("parsed profile %+v does not match the file", p)
	}
}

func TestLoadProfile(t *testing.T) {
	p, err := LoadProfile("modern")
	if err != nil || p.Name != Modern {
		t.Fatalf("LoadProfile(modern) = %v, %v", p, err)
	}
	path := filepath.Join(t.TempDir(), "weak.yaml")
	if err := os.WriteFile(path, []byte("name: weak\nbase: baseline\nmin_version: \"1.1\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadProfile(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "below TLS 1.2") {
		t.Errorf("LoadProfile(weak file) error %v, want the file and the reason", err)
	}
	if _, err := LoadProfile("nonexistent"); err == nil || !strings.Contains(err.Error(), "neither a built-in profile") {
		t.Errorf("LoadProfile(nonexistent) error %v", err)
	}
}

func TestParseNames(t *testing.T) {
	if s, err := ParseCipherSuite("ecdhe-ecdsa-aes256-gcm-sha384"); err != nil || s != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 {
		t.Errorf("OpenSSL name: %x, %v", s, err)
	}
	if s, err := ParseCipherSuite("TLS_CHACHA20_POLY1305_SHA256"); err != nil || s != tls.TLS_CHACHA20_POLY1305_SHA256 {
		t.Errorf("IANA name: %x, %v", s, err)
	}
	if g, err := ParseGroup("prime256v1"); err != nil || g != tls.CurveP256 {
		t.Errorf("prime256v1: %v, %v", g, err)
	}
	if v, err := ParseVersion("TLS 1.3"); err != nil || v != tls.VersionTLS13 {
		t.Errorf("TLS 1.3: %x, %v", v, err)
	}
	if _, err := ParseVersion("1.4"); err == nil {
		t.Error("1.4 parsed")
	}
	if a, err := ParseSignatureAlgorithm("ed25519"); err != nil || a.String() != "Ed25519" {
		t.Errorf("Ed25519: %v, %v", a, err)
	}
}
