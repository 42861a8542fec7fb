package tlspolicy

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
)

func TestBuiltinProfilesValidate(t *testing.T) {
	for _, name := range BuiltinNames() {
		p, err := Builtin(name)
		if err != nil {
			t.Fatalf("Builtin(%s): %v", name, err)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("built-in %s does not validate: %v", name, err)
		}
	}
	if _, err := Builtin("weak"); err == nil || !strings.Contains(err.Error(), "weak") {
		t.Errorf("Builtin(weak) = %v, want an error naming it", err)
	}
}

func TestBuiltinReturnsCopies(t *testing.T) {
	a, _ := Builtin(Baseline)
	a.Groups[0] = tls.CurveP521
	b, _ := Builtin(Baseline)
	if b.Groups[0] != tls.X25519MLKEM768 {
		t.Fatal("changing one Builtin result changed the next one")
	}
}

func TestValidateRejectsWeakProfiles(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Profile)
		reason string
	}{
		{"tls11", func(p *Profile) { p.MinVersion = tls.VersionTLS11 }, "below TLS 1.2"},
		{"rsa kx", func(p *Profile) { p.CipherSuites = append(p.CipherSuites, tls.TLS_RSA_WITH_AES_256_GCM_SHA384) }, "not an ECDHE suite"},
		{"cbc", func(p *Profile) { p.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA} }, "AEAD"},
		{"rsa1024", func(p *Profile) { p.Keys.MinRSABits = 1024 }, "below 2048"},
		{"p224", func(p *Profile) { p.Keys.ECDSACurves = []string{"P-224"} }, "P-224"},
		{"sha1", func(p *Profile) { p.SignatureAlgorithms = append(p.SignatureAlgorithms, x509.ECDSAWithSHA1) }, "weaker than SHA-256"},
		{"no groups", func(p *Profile) { p.Groups = nil }, "no key exchange group"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, _ := Builtin(Baseline)
			c.mutate(p)
			err := p.Validate()
			if err == nil || !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("Validate() = %v, want reason containing %q", err, c.reason)
			}
		})
	}
}

func TestProfileAllows(t *testing.T) {
	base, _ := Builtin(Baseline)
	fips, _ := Builtin(FIPS)
	pq, _ := Builtin(PQ)
	if !base.AllowsSuite(tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384) {
		t.Error("baseline refuses ECDHE-ECDSA-AES256-GCM-SHA384")
	}
	if base.AllowsSuite(tls.VersionTLS12, tls.TLS_RSA_WITH_AES_256_CBC_SHA) {
		t.Error("baseline allows AES256-SHA")
	}
	if base.AllowsVersion(tls.VersionTLS11) {
		t.Error("baseline allows TLS 1.1")
	}
	if fips.AllowsSuite(tls.VersionTLS13, tls.TLS_CHACHA20_POLY1305_SHA256) {
		t.Error("fips allows ChaCha20")
	}
	if fips.AllowsGroup(tls.X25519) {
		t.Error("fips allows X25519")
	}
	if !pq.RequiresPQ() || base.RequiresPQ() {
		t.Error("RequiresPQ wrong for pq or baseline")
	}
}

func TestKeyPolicy(t *testing.T) {
	base, _ := Builtin(Baseline)
	fips, _ := Builtin(FIPS)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	if err := base.CheckPublicKey(&small.PublicKey); err == nil || !strings.Contains(err.Error(), "1024") {
		t.Errorf("RSA-1024: %v", err)
	}
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err := base.CheckPublicKey(&p224.PublicKey); err == nil {
		t.Error("P-224 accepted")
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err := base.CheckPublicKey(&p256.PublicKey); err != nil {
		t.Errorf("P-256 refused: %v", err)
	}
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	if err := fips.CheckPublicKey(edPub); err == nil {
		t.Error("fips accepts Ed25519")
	}
}
