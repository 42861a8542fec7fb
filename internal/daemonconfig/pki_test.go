package daemonconfig

import (
	"errors"
	"strings"
	"testing"
)

func TestPKISection(t *testing.T) {
	c, err := Parse("/etc/intransitd/gw.yaml", []byte(good+"pki: {dir: pki, passphrase_file: pki.pass}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if ca := c.CA(); ca == nil || ca.Dir != "/etc/intransitd/pki" || ca.PassphraseFile != "/etc/intransitd/pki.pass" {
		t.Errorf("CA %+v, want the pki section with resolved paths", ca)
	}
	c, err = Parse("/etc/intransitd/gw.yaml", []byte(goodP2S))
	if err != nil {
		t.Fatal(err)
	}
	if ca := c.CA(); ca == nil || ca.Dir != "/etc/intransitd/pki" {
		t.Errorf("CA %+v, want p2s.pki", ca)
	}
	c, err = Parse("/etc/intransitd/gw.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if ca := c.CA(); ca != nil {
		t.Errorf("CA %+v without a pki section", ca)
	}
	noP2SPKI := strings.Replace(goodP2S, "  pki: {dir: pki, key_file: pki.key}\n", "", 1)
	c, err = Parse("/etc/intransitd/gw.yaml", []byte(noP2SPKI+"pki: {dir: ca, key_file: ca.key}\n"))
	if err != nil {
		t.Fatalf("p2s enrollment with the top-level pki section: %v", err)
	}
	if ca := c.CA(); ca == nil || ca.Dir != "/etc/intransitd/ca" {
		t.Errorf("CA %+v, want the top-level section", ca)
	}
	// Neither key_file nor passphrase_file: the keys, or the master key,
	// are in a PKCS#11 token (the daemon checks when it opens the CA).
	if _, err := Parse("/etc/intransitd/gw.yaml", []byte(good+"pki: {dir: pki}\n")); err != nil {
		t.Errorf("pki without a master key file: %v", err)
	}
	for _, tc := range []struct{ name, text, field string }{
		{"no directory", good + "pki: {key_file: k}\n", "pki.dir"},
		{"two master keys", good + "pki: {dir: pki, key_file: k, passphrase_file: p}\n", "pki"},
		{"two places", goodP2S + "pki: {dir: pki, key_file: pki.key}\n", "p2s.pki"},
	} {
		_, err := Parse("gw.yaml", []byte(tc.text))
		var ce *Error
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%s: %v, want an error on %s", tc.name, err, tc.field)
		}
	}
}
