package daemonconfig

import (
	"errors"
	"strings"
	"testing"
)

const goodP2S = good + `p2s:
  listen:
    control: 192.0.2.1:8444
    udp: 192.0.2.1:51821
    tls: 192.0.2.1:443
  enroll: 192.0.2.1:8445
  renew: 192.0.2.1:8446
  pki: {dir: pki, key_file: pki.key}
  pools: [10.9.0.0/24, fd00:9::/112]
  groups:
    - name: staff
      dns: [10.1.0.53]
      search: [corp.example]
    - name: admins
      full_tunnel: true
      client_to_client: true
`

func TestParseP2S(t *testing.T) {
	c, err := Parse("/etc/intransitd/gw.yaml", []byte(goodP2S))
	if err != nil {
		t.Fatal(err)
	}
	p := c.P2S
	if p.Interface.Name != DefaultP2SInterface || p.AdminSocket != DefaultP2SAdminSocket || p.ClientTTL.Duration != DefaultClientTTL ||
		p.LeaseIdle.Duration != DefaultLeaseIdle {
		t.Errorf("defaults: %+v", p)
	}
	if p.PKI.Dir != "/etc/intransitd/pki" || p.PKI.KeyFile != "/etc/intransitd/pki.key" {
		t.Errorf("pki paths not resolved: %+v", p.PKI)
	}
	if p.PoolV4().String() != "10.9.0.0/24" || p.PoolV6().String() != "fd00:9::/112" {
		t.Errorf("pools %s %s", p.PoolV4(), p.PoolV6())
	}
	if c.Identity.CRLRefresh.Duration != P2SCRLRefresh {
		t.Errorf("crl_refresh %s, want %s with a p2s section", c.Identity.CRLRefresh.Duration, P2SCRLRefresh)
	}
	if p.EnrollProfile != "modern" || p.Interface.MTU != 1420 {
		t.Errorf("enroll profile %q, mtu %d", p.EnrollProfile, p.Interface.MTU)
	}
	if g := p.Groups[0]; g.DNS[0].String() != "10.1.0.53" || g.Search[0] != "corp.example" {
		t.Errorf("group %+v", g)
	}
}

func TestP2SErrors(t *testing.T) {
	for _, tc := range []struct {
		name, from, to, field string
		line                  int
	}{
		{"pool overlaps a site", "pools: [10.9.0.0/24", "pools: [10.1.0.0/25", "p2s.pools[0]", 32},
		{"two IPv4 pools", "pools: [10.9.0.0/24, fd00:9::/112]", "pools: [10.9.0.0/24, 10.8.0.0/24]", "p2s.pools[1]", 32},
		{"port taken by site-to-site", "control: 192.0.2.1:8444", "control: 192.0.2.1:8443", "p2s.listen.control", 26},
		{"udp port taken", "udp: 192.0.2.1:51821", "udp: 192.0.2.1:51820", "p2s.listen.udp", 27},
		{"two master keys", "pki: {dir: pki, key_file: pki.key}", "pki: {dir: pki, key_file: pki.key, passphrase_file: pki.pass}", "p2s.pki", 31},
		{"bad group name", "- name: staff", "- name: Staff!", "p2s.groups[0].name", 34},
		{"duplicate group", "- name: admins", "- name: staff", "p2s.groups[1].name", 37},
		{"full tunnel with routes", "full_tunnel: true", "full_tunnel: true\n      routes: [10.1.0.0/24]", "p2s.groups[1].routes", 39},
		{"bad DNS server", "dns: [10.1.0.53]", "dns: [10.1.0]", "p2s.groups[0].dns", 35},
		{"bad search domain", "search: [corp.example]", "search: [-bad-]", "p2s.groups[0].search[0]", 36},
		{"lease_idle under a second", "pools: [", "lease_idle: 500ms\n  pools: [", "p2s.lease_idle", 32},
		{"lease_idle not positive", "pools: [", "lease_idle: 0s\n  pools: [", "p2s.lease_idle", 32},
		{"max_clients negative", "pools: [", "max_clients: -1\n  pools: [", "p2s.max_clients", 32},
		{"max_clients too many", "pools: [", "max_clients: 2000000\n  pools: [", "p2s.max_clients", 32},
		{"tls on the site-to-site control port", "tls: 192.0.2.1:443", "tls: 192.0.2.1:8443", "p2s.listen.tls", 28},
		{"IPv6 pool over a small path", "site_prefixes: [10.1.0.0/24, fd01::/64]", "site_prefixes: [10.1.0.0/24]\npath_mtu: 1280", "p2s.pools[1]", 33},
		{"unknown key", "client_to_client: true", "client_to_client: true\n      clients_to_client: true", "p2s.groups[1].clients_to_client", 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(goodP2S, tc.from, tc.to, 1)
			if text == goodP2S {
				t.Fatalf("replacement %q not found", tc.from)
			}
			_, err := Parse("gw.yaml", []byte(text))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v, want *Error", err)
			}
			if ce.Field != tc.field || ce.Line != tc.line {
				t.Errorf("got %s (field %q line %d), want field %q line %d", ce, ce.Field, ce.Line, tc.field, tc.line)
			}
		})
	}
}

// TestP2SOnly: a gateway for laptops alone needs no site-to-site listen
// section (and opens none, not even the default control port), but still
// its site prefixes, which are the laptops' routes; with a remote, or
// without a p2s section, listen is required.
func TestP2SOnly(t *testing.T) {
	cut := func(s, from, to string) string {
		i, j := strings.Index(s, from), strings.Index(s, to)
		return s[:i] + s[j:]
	}
	noS2S := cut(cut(goodP2S, "listen:\n  control: 192.0.2.1:8443", "site_prefixes:"), "remotes:", "p2s:")
	c, err := Parse("/etc/intransitd/gw.yaml", []byte(noS2S))
	if err != nil {
		t.Fatalf("p2s only:\n%s\n%v", noS2S, err)
	}
	if c.SiteToSite() || c.Listen.Control.IsValid() || len(listeners(c)) != 5 { // p2s control, udp, tls, enroll, renew
		t.Errorf("p2s only: site-to-site %v, control %v, listeners %+v", c.SiteToSite(), c.Listen.Control, listeners(c))
	}
	_, err = Parse("gw.yaml", []byte(strings.Replace(noS2S, "site_prefixes: [10.1.0.0/24, fd01::/64]\n", "", 1)))
	if err == nil || !strings.Contains(err.Error(), "site_prefixes: at least one local site prefix is required: remote gateways and laptops (p2s groups without routes) are routed to it") {
		t.Errorf("p2s only without site_prefixes: %v", err)
	}
	withRemote := strings.Replace(noS2S, "p2s:", "remotes:\n  - {name: site-b, identity: gw-b.example.org, allowed_prefixes: [10.2.0.0/24]}\np2s:", 1)
	_, err = Parse("gw.yaml", []byte(withRemote))
	if err == nil || !strings.Contains(err.Error(), "listen: serve at least one data-plane transport (udp, quic, tls) for the remote gateways") {
		t.Errorf("p2s with a remote and no listen: %v", err)
	}
	_, err = Parse("gw.yaml", []byte(noS2S[:strings.Index(noS2S, "p2s:")]))
	if err == nil || !strings.Contains(err.Error(), "listen: serve at least one data-plane transport") {
		t.Errorf("no p2s and no listen: %v", err)
	}
}
