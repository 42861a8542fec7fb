package gateway

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"intransit/tunnel"
)

func TestClientName(t *testing.T) {
	u := func(s string) *url.URL {
		v, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		cn   string
		uris []*url.URL
		ok   bool
	}{
		{"alice", []*url.URL{u("intransit://corp/client/alice")}, true},
		{"alice", []*url.URL{u("intransit://corp/gateway/alice")}, false},
		{"alice", []*url.URL{u("intransit://corp/client/bob")}, false},
		{"alice", []*url.URL{u("spiffe://corp/client/alice")}, false},
		{"alice", nil, false},
	} {
		c := &x509.Certificate{Subject: pkix.Name{CommonName: tc.cn}, URIs: tc.uris}
		name, err := clientName(c)
		if (err == nil) != tc.ok || (tc.ok && name != tc.cn) {
			t.Errorf("%s %v: %q %v, want ok=%v", tc.cn, tc.uris, name, err, tc.ok)
		}
	}
}

func TestGroupRoutes(t *testing.T) {
	site := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")}
	own := []netip.Prefix{netip.MustParsePrefix("10.7.0.0/16")}
	if got := (Group{}).routes(site); len(got) != 1 || got[0] != site[0] {
		t.Errorf("split tunnel default: %v, want the site prefixes", got)
	}
	if got := (Group{Routes: own}).routes(site); len(got) != 1 || got[0] != own[0] {
		t.Errorf("split tunnel with routes: %v", got)
	}
	if got := (Group{FullTunnel: true}).routes(site); len(got) != 2 || got[0].Bits() != 0 || got[1].Bits() != 0 {
		t.Errorf("full tunnel: %v, want both default routes", got)
	}
}

func TestWGQuick(t *testing.T) {
	key, _ := tunnel.GeneratePrivateKey()
	gw, _ := tunnel.GeneratePrivateKey()
	psk, _ := tunnel.GeneratePresharedKey()
	p := &StaticProfile{Name: "phone", Group: "staff", PrivateKey: key, PresharedKey: psk,
		Addresses:  []netip.Addr{netip.MustParseAddr("10.9.0.7"), netip.MustParseAddr("fd00:9::7")},
		DNSServers: []netip.Addr{netip.MustParseAddr("10.1.0.53")}, Routes: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")},
		GatewayKey: gw.PublicKey(), Endpoint: "192.0.2.1:51821"}
	text := p.WGQuick()
	for _, want := range []string{
		"PrivateKey = " + key.Base64(), "Address = 10.9.0.7/32, fd00:9::7/128", "DNS = 10.1.0.53",
		"PublicKey = " + gw.PublicKey().String(), "PresharedKey = " + psk.Base64(), "Endpoint = 192.0.2.1:51821",
		"AllowedIPs = 10.1.0.0/24", "UDP only", "no post-quantum PSK rotation", "intransit p2s remove phone",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("profile lacks %q:\n%s", want, text)
		}
	}
	if strings.Index(text, "[Interface]") > strings.Index(text, "[Peer]") {
		t.Errorf("sections out of order:\n%s", text)
	}
}
