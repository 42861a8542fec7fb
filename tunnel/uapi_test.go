package tunnel

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestPeerSetOperation(t *testing.T) {
	var pub PublicKey
	pub[0] = 0xab
	psk := PresharedKey{1}
	p := PeerConfig{
		PublicKey:           pub,
		PresharedKey:        &psk,
		Endpoint:            "192.0.2.1:51820",
		AllowedIPs:          []netip.Prefix{netip.MustParsePrefix("10.0.0.7/24"), netip.MustParsePrefix("fd00::/64")},
		PersistentKeepalive: 25 * time.Second,
	}
	got := peerSetOperation(p, true)
	want := "public_key=ab" + strings.Repeat("0", 62) + "\n" +
		"update_only=true\n" +
		"preshared_key=01" + strings.Repeat("0", 62) + "\n" +
		"endpoint=192.0.2.1:51820\n" +
		"persistent_keepalive_interval=25\n" +
		"replace_allowed_ips=true\n" +
		"allowed_ip=10.0.0.0/24\n" +
		"allowed_ip=fd00::/64\n" +
		"allowed_ip=" + ProbeAddr(pub).String() + "/128\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	noPSK := peerSetOperation(PeerConfig{PublicKey: pub}, false)
	if !strings.Contains(noPSK, "preshared_key="+strings.Repeat("0", 64)+"\n") || strings.Contains(noPSK, "endpoint=") || strings.Contains(noPSK, "update_only") {
		t.Errorf("peer without psk or endpoint:\n%s", noPSK)
	}
}

func TestParsePeers(t *testing.T) {
	get := "private_key=" + strings.Repeat("11", 32) + "\nlisten_port=51820\n" +
		"public_key=" + strings.Repeat("ab", 32) + "\npreshared_key=" + strings.Repeat("00", 32) +
		"\nprotocol_version=1\nendpoint=192.0.2.2:51820\nlast_handshake_time_sec=1700000000\nlast_handshake_time_nsec=5\n" +
		"tx_bytes=100\nrx_bytes=200\npersistent_keepalive_interval=25\nallowed_ip=10.0.0.2/32\nallowed_ip=fd00::2/128\n" +
		"allowed_ip=fd69:6e74:7261:1:2:3:4:5/128\n" +
		"public_key=" + strings.Repeat("cd", 32) + "\npreshared_key=" + strings.Repeat("07", 32) +
		"\nprotocol_version=1\nlast_handshake_time_sec=0\nlast_handshake_time_nsec=0\ntx_bytes=0\nrx_bytes=0\npersistent_keepalive_interval=0\n\n"
	peers, err := parsePeers(get)
	if err != nil {
		t.Fatal(err)
	}
	if len(peers) != 2 {
		t.Fatalf("%d peers, want 2", len(peers))
	}
	a, b := peers[0], peers[1]
	if a.PublicKey[0] != 0xab || a.Endpoint != "192.0.2.2:51820" || a.HasPresharedKey ||
		a.TxBytes != 100 || a.RxBytes != 200 || a.PersistentKeepalive != 25*time.Second ||
		!a.LastHandshake.Equal(time.Unix(1700000000, 5)) || len(a.AllowedIPs) != 2 ||
		a.AllowedIPs[1] != netip.MustParsePrefix("fd00::2/128") {
		t.Errorf("first peer: %+v", a)
	}
	if b.PublicKey[0] != 0xcd || !b.HasPresharedKey || !b.LastHandshake.IsZero() || b.Endpoint != "" {
		t.Errorf("second peer: %+v", b)
	}
	for _, bad := range []string{"public_key=zz\n", "public_key=" + strings.Repeat("ab", 32) + "\ntx_bytes=x\n", "garbage\n"} {
		if _, err := parsePeers(bad); err == nil {
			t.Errorf("parsePeers(%q) accepted it", bad)
		}
	}
}

func TestParseListenPort(t *testing.T) {
	if p, err := parseListenPort("private_key=00\nlisten_port=4242\n"); err != nil || p != 4242 {
		t.Errorf("got %d, %v", p, err)
	}
	if _, err := parseListenPort("private_key=00\n"); err == nil {
		t.Error("missing listen_port accepted")
	}
}

func TestConfigValidation(t *testing.T) {
	priv := PrivateKey{1}
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no name", Config{PrivateKey: priv}, "name"},
		{"long name", Config{Name: "a-very-long-interface-name", PrivateKey: priv}, "name"},
		{"small mtu", Config{Name: "wg0", MTU: 575, PrivateKey: priv}, "mtu 575"},
		{"IPv6 on a small mtu", Config{Name: "wg0", MTU: 1200, PrivateKey: priv, Addresses: []netip.Prefix{netip.MustParsePrefix("fd00::1/64")}}, "IPv6 needs an MTU of 1280"},
		{"IPv6 route on a small mtu", Config{Name: "wg0", MTU: 1279, PrivateKey: priv, Routes: []netip.Prefix{netip.MustParsePrefix("fd00::/64")}}, "routes[0] fd00::/64: IPv6 needs"},
		{"no key", Config{Name: "wg0"}, "private key"},
		{"no bind", Config{Name: "wg0", PrivateKey: priv}, "bind"},
		{"route host bits", Config{Name: "wg0", PrivateKey: priv, Routes: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}}, "routes[0]"},
	}
	for _, c := range cases {
		_, err := c.cfg.validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to mention %q", c.name, err, c.want)
		}
	}
	for _, p := range []PeerConfig{
		{},
		{PublicKey: PublicKey{1}, PersistentKeepalive: 1500 * time.Millisecond},
		{PublicKey: PublicKey{1}, PersistentKeepalive: MaxKeepalive + time.Second},
	} {
		if err := p.validate(); err == nil {
			t.Errorf("peer %+v accepted", p)
		}
	}
}
