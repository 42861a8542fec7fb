package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"intransit/internal/daemonconfig"
	"intransit/internal/status"
)

func TestGuardPolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	body := "identity: {cert: a.pem, key: a.key, ca: ca.pem, crl: crl.pem}\nlisten: {udp: 192.0.2.1:51820}\nsite_prefixes: [10.1.0.0/24]\n" +
		"interface: {name: itd-a}\nremotes:\n" +
		"  - {name: site-b, identity: intransit://t/gateway/b, allowed_prefixes: [10.2.0.0/24, 'fd02::/64']}\n" +
		"  - {name: site-c, identity: intransit://t/gateway/c, allowed_prefixes: [10.3.0.0/16]}\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := daemonconfig.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p := guardPolicy(cfg)
	if p.Interface != "itd-a" || len(p.Guards) != 2 || p.Lockdown || len(p.Exempt) != 0 {
		t.Fatalf("policy %+v", p)
	}
	if g := p.Guards[0]; g.Name != "site-b" || len(g.Prefixes) != 2 || g.Prefixes[1].String() != "fd02::/64" {
		t.Errorf("guard of site-b: %+v", g)
	}
	if g := p.Guards[1]; g.Name != "site-c" || len(g.Prefixes) != 1 || g.Prefixes[0].String() != "10.3.0.0/16" {
		t.Errorf("guard of site-c: %+v", g)
	}
	if err := p.Validate(); err != nil {
		t.Errorf("the policy of a valid configuration is invalid: %v", err)
	}
}

func TestPoolGuard(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	body := "identity: {cert: a.pem, key: a.key, ca: ca.pem, crl: crl.pem}\nlisten: {udp: 192.0.2.1:51820}\nsite_prefixes: [10.1.0.0/24]\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := daemonconfig.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	// Without p2s: nothing guarded on the default p2s interface (a block
	// an earlier configuration left there goes).
	if iface, p := poolGuard(cfg); iface != daemonconfig.DefaultP2SInterface || !p.Empty() {
		t.Errorf("no p2s: %s %+v", iface, p)
	}
	cfg.P2S = &daemonconfig.P2S{Interface: daemonconfig.Interface{Name: "itp9"},
		Pools: []daemonconfig.Prefix{{Prefix: netip.MustParsePrefix("10.9.0.0/24")}, {Prefix: netip.MustParsePrefix("fd00:9::/112")}}}
	iface, p := poolGuard(cfg)
	if iface != "itp9" || len(p.Guards) != 1 || p.Guards[0].Name != poolGuardName || len(p.Guards[0].Prefixes) != 2 {
		t.Errorf("p2s pools: %s %+v", iface, p)
	}
}

func TestTunnelStates(t *testing.T) {
	st := tunnelStates([]status.Peer{
		{Name: "site-b", State: status.StateUp},
		{Name: "site-c", State: status.StateDown, Reason: "dead"},
		{Name: "site-d", State: status.StateConnecting},
	})
	for _, tc := range []struct {
		name string
		up   bool
		why  string
	}{
		{"site-b", true, ""},
		{"site-c", false, "down: dead"},
		{"site-d", false, "connecting"},
		{"site-e", false, "no session"},
	} {
		if up, why := st(tc.name); up != tc.up || why != tc.why {
			t.Errorf("%s: %v %q, want %v %q", tc.name, up, why, tc.up, tc.why)
		}
	}
}
