package daemonconfig

import (
	"errors"
	"strings"
	"testing"
)

func TestRenewal(t *testing.T) {
	withRenew := func(renew string) string {
		return strings.Replace(good, "  crl: crl.pem\n", "  crl: crl.pem\n  renew: "+renew+"\n", 1)
	}
	caSection := "pki: {dir: pki, key_file: k, renew: 192.0.2.1:8444}\n"
	c, err := Parse("gw.yaml", []byte(withRenew("{url: ca}")+caSection))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Identity.Renew.FromCA() || c.CA().Renew.Port() != 8444 {
		t.Errorf("renewal %+v, renew API %v", c.Identity.Renew, c.CA().Renew)
	}
	c, err = Parse("gw.yaml", []byte(withRenew("{url: 'https://192.0.2.1:8444', identity: 'intransit://demo/gateway/gw-a'}")))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Identity.Renew; r.FromCA() || r.URL != "https://192.0.2.1:8444" || r.Identity != "intransit://demo/gateway/gw-a" {
		t.Errorf("renewal %+v", r)
	}
	for _, tc := range []struct{ name, text, field string }{
		{"no url", withRenew("{identity: 'intransit://demo/gateway/gw-a'}"), "identity.renew.url"},
		{"from a CA not held", withRenew("{url: ca}"), "identity.renew.url"},
		{"http", withRenew("{url: 'http://192.0.2.1:8444'}"), "identity.renew.url"},
		{"a path", withRenew("{url: 'https://192.0.2.1:8444/x'}"), "identity.renew.url"},
		{"identity with ca", withRenew("{url: ca, identity: 'intransit://demo/gateway/gw-a'}") + caSection, "identity.renew.identity"},
		{"identity not a URI", withRenew("{url: 'https://192.0.2.1:8444', identity: gw-a}"), "identity.renew.identity"},
	} {
		_, err := Parse("gw.yaml", []byte(tc.text))
		var ce *Error
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%s: %v, want an error on %s", tc.name, err, tc.field)
		}
	}
}
