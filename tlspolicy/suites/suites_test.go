package suites

import (
	"crypto/tls"
	"slices"
	"strings"
	"testing"
)

func TestRegistryIsSortedAndUnique(t *testing.T) {
	all := TLS12()
	if len(all) < 300 {
		t.Fatalf("registry has %d TLS <= 1.2 suites, want the full IANA list (> 300)", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID <= all[i-1].ID {
			t.Errorf("suite %s (0x%04X) out of order after 0x%04X", all[i].Name, all[i].ID, all[i-1].ID)
		}
	}
	for _, s := range all {
		if s.ID == 0x0000 || s.ID == 0x00FF || s.ID == 0x5600 {
			t.Errorf("registry lists signalling value 0x%04X", s.ID)
		}
		if !strings.HasPrefix(s.Name, "TLS_") || s.IsTLS13() {
			t.Errorf("bad TLS 1.2 entry %+v", s)
		}
	}
}

func TestNamesAgreeWithCryptoTLS(t *testing.T) {
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		s, ok := Lookup(cs.ID)
		if !ok {
			t.Errorf("crypto/tls suite %s (0x%04X) missing from registry", cs.Name, cs.ID)
			continue
		}
		if s.Name != cs.Name {
			t.Errorf("0x%04X: registry says %s, crypto/tls says %s", cs.ID, s.Name, cs.Name)
		}
	}
}

func TestProperties(t *testing.T) {
	cases := []struct {
		id        uint16
		kx        string
		cipher    string
		fs, aead  bool
		weakMatch []string
	}{
		{0xC02F, "ECDHE_RSA", "AES_128_GCM", true, true, nil},
		{0x002F, "RSA", "AES_128_CBC", false, false, []string{"no forward secrecy (RSA key exchange)", "CBC mode (MAC-then-encrypt)", "SHA-1 MAC"}},
		{0x000A, "RSA", "3DES_EDE_CBC", false, false, []string{"64-bit block cipher", "no forward secrecy (RSA key exchange)", "CBC mode (MAC-then-encrypt)", "SHA-1 MAC"}},
		{0x0003, "RSA_EXPORT", "RC4_40", false, false, []string{"export-grade cipher", "RC4 stream cipher", "no forward secrecy (RSA_EXPORT key exchange)", "MD5 MAC"}},
		{0x0002, "RSA", "NULL", false, false, []string{"NULL cipher (no encryption)", "no forward secrecy (RSA key exchange)", "SHA-1 MAC"}},
		{0x00A6, "DH_anon", "AES_128_GCM", false, true, []string{"anonymous key exchange (no server authentication)", "no forward secrecy (DH_anon key exchange)"}},
		{0xCCAA, "DHE_RSA", "CHACHA20_POLY1305", true, true, nil},
		{0x1302, "", "AES_256_GCM", true, true, nil},
		{0xC0AE, "ECDHE_ECDSA", "AES_128_CCM_8", true, true, nil},
	}
	for _, c := range cases {
		s, ok := Lookup(c.id)
		if !ok {
			t.Fatalf("0x%04X not in registry", c.id)
		}
		if s.KeyExchange() != c.kx || s.Cipher() != c.cipher || s.ForwardSecret() != c.fs || s.AEAD() != c.aead {
			t.Errorf("%s: kx=%q cipher=%q fs=%v aead=%v, want %q %q %v %v", s.Name, s.KeyExchange(), s.Cipher(), s.ForwardSecret(), s.AEAD(), c.kx, c.cipher, c.fs, c.aead)
		}
		if got := s.Weaknesses(); !slices.Equal(got, c.weakMatch) {
			t.Errorf("%s weaknesses = %q, want %q", s.Name, got, c.weakMatch)
		}
	}
	if Name(0xFAFA) != "0xFAFA" {
		t.Errorf("unknown code point named %q", Name(0xFAFA))
	}
}
