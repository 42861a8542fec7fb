package s2s

import (
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"intransit/internal/testutil/certs"
	"intransit/tunnel/control"
)

func TestLoadOrCreateKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	k1, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %s, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Errorf("state directory mode %s, want 0700", di.Mode().Perm())
	}
	k2, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if k1 != k2 || k1.IsZero() {
		t.Error("the key was not reused")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("state directory holds %d entries, want only the key", len(entries))
	}
	if err := os.Chmod(filepath.Join(dir, KeyFileName), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a world-readable key was accepted: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, KeyFileName), []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(dir); err == nil {
		t.Error("a damaged key file was accepted")
	}
}

func TestClampValues(t *testing.T) {
	// udp over a 1280 path: a full inner IPv4 segment is 1160 + 40 = 1200
	// bytes, the interface MTU, plus WireGuard (32) and outer IPv6+UDP (48)
	// = 1280.
	tun4, tun6, wan4, wan6 := clampValues(1280, 1200)
	if tun4 != 1160 || tun6 != 1140 || wan4 != 1240 || wan6 != 1220 {
		t.Errorf("clampValues(1280, 1200) = %d %d %d %d", tun4, tun6, wan4, wan6)
	}
}

func TestRemoteIdentity(t *testing.T) {
	ca := certs.NewCA(t, "s2s test CA")
	u, _ := url.Parse("intransit://t/gateway/gw-b")
	leaf := ca.Issue(certs.LeafOptions{CommonName: "gw-b", DNSNames: []string{"gw-b.example"}, URIs: []string{u.String()}, IPs: []net.IP{net.ParseIP("192.0.2.2")}})
	tests := []struct {
		identity string
		want     bool
	}{
		{"intransit://t/gateway/gw-b", true},
		{"intransit://t/gateway/gw-c", false},
		{"gw-b.example", true},
		{"gw-b", false},
	}
	for _, tc := range tests {
		r := Remote{Identity: tc.identity}
		if got := r.matches(leaf.Cert); got != tc.want {
			t.Errorf("%q matches: %v, want %v", tc.identity, got, tc.want)
		}
		a := r.allow()
		if len(a.URIs)+len(a.DNSNames) != 1 || a.Check(leaf.Cert) == nil != tc.want {
			t.Errorf("%q allow-list %+v disagrees with matches", tc.identity, a)
		}
	}
	if got := control.IdentityOf(leaf.Cert); got != u.String() {
		t.Errorf("IdentityOf = %q", got)
	}
}

func TestRemoteEqual(t *testing.T) {
	a := Remote{Name: "b", Identity: "gw-b.example", Control: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.2:8443")},
		Transports: []string{"udp"}, AllowedPrefixes: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")}}
	b := a
	if !a.Equal(b) {
		t.Error("a copy differs")
	}
	b.AllowedPrefixes = []netip.Prefix{netip.MustParsePrefix("10.2.0.0/16")}
	if a.Equal(b) {
		t.Error("a different prefix compares equal")
	}
	b = a
	b.Transports = []string{"quic", "udp"}
	if a.Equal(b) {
		t.Error("a different transport order compares equal")
	}
}

func TestAdvertised(t *testing.T) {
	g := &Gateway{opts: Options{Transports: []Listener{
		{Name: "udp", Endpoint: netip.MustParseAddrPort("[::]:51820")},
		{Name: "quic", Endpoint: netip.MustParseAddrPort("198.51.100.1:443")},
		{Name: "tls", Endpoint: netip.MustParseAddrPort("0.0.0.0:443")},
	}}}
	local := &net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 8443}
	got := g.advertised(local, nil)
	want := []control.Transport{
		{Name: "udp", Endpoint: netip.MustParseAddrPort("192.0.2.1:51820")},
		{Name: "quic", Endpoint: netip.MustParseAddrPort("198.51.100.1:443")},
		{Name: "tls", Endpoint: netip.MustParseAddrPort("192.0.2.1:443")},
	}
	if len(got) != len(want) {
		t.Fatalf("advertised %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("advertised[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	r := &remote{cfg: Remote{Transports: []string{"tls", "quic"}}}
	got = g.advertised(local, r)
	if got[0].Name != "tls" || got[1].Name != "quic" || got[2].Name != "udp" {
		t.Errorf("dialer's order not first: %v", got)
	}
}

func TestSetRemotesRefusesConflicts(t *testing.T) {
	g := &Gateway{opts: Options{SitePrefixes: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")}}, remotes: map[string]*remote{}}
	pfx := func(s string) []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix(s)} }
	tests := []struct {
		name    string
		remotes []Remote
		want    string
	}{
		{"duplicate name", []Remote{{Name: "b", AllowedPrefixes: pfx("10.2.0.0/24")}, {Name: "b", AllowedPrefixes: pfx("10.3.0.0/24")}}, "listed twice"},
		{"site overlap", []Remote{{Name: "b", AllowedPrefixes: pfx("10.1.0.0/16")}}, "overlaps site prefix"},
		{"remote overlap", []Remote{{Name: "b", AllowedPrefixes: pfx("10.2.0.0/24")}, {Name: "c", AllowedPrefixes: pfx("10.2.0.128/25")}}, "of remote b"},
		{"host bits", []Remote{{Name: "b", AllowedPrefixes: []netip.Prefix{netip.MustParsePrefix("10.2.0.1/24")}}}, "allowed prefixes"},
	}
	for _, tc := range tests {
		err := g.SetRemotes(tc.remotes)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
		if len(g.remotes) != 0 {
			t.Errorf("%s: a refused list changed the remotes", tc.name)
		}
	}
}
