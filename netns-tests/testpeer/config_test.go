package testpeer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"intransit/tunnel"
)

func TestConfigRoundTripAndMode(t *testing.T) {
	priv, err := tunnel.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	c := Config{Interface: "wg0", PrivateKey: priv.Base64(), ListenPort: 51820, Addresses: []string{"10.0.0.1/24"},
		Peers: []Peer{{PublicKey: priv.PublicKey().String(), Endpoint: "192.0.2.1:51820", AllowedIPs: []string{"10.0.0.2/32"}, PersistentKeepalive: 25}}}
	path := filepath.Join(t.TempDir(), "peer.yaml")
	if err := c.Write(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("config holding a private key has mode %v, want 0600", fi.Mode().Perm())
	}
	got, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	tc, peers, err := got.Tunnel()
	if err != nil {
		t.Fatal(err)
	}
	if tc.PrivateKey != priv || len(peers) != 1 || peers[0].PersistentKeepalive.Seconds() != 25 || peers[0].Endpoint != "192.0.2.1:51820" {
		t.Errorf("round trip: %+v %+v", tc, peers)
	}
}

func TestLoadConfigErrorsNameTheProblem(t *testing.T) {
	key := strings.Repeat("A", 43) + "="
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown field", "interface: wg0\nprivate_key: " + key + "\nlisten_prot: 1\n", "line 3"},
		{"bad key", "interface: wg0\nprivate_key: nope\n", "private_key"},
		{"bad address", "interface: wg0\nprivate_key: " + key + "\naddresses: [10.0.0.1]\n", "addresses[0]"},
		{"bad transport", "interface: wg0\nprivate_key: " + key + "\ntransport: carrier-pigeon\n", "transport \"carrier-pigeon\""},
		{"quic without tls", "interface: wg0\nprivate_key: " + key + "\ntransport: quic\n", "tls section"},
		{"bad peer", "interface: wg0\nprivate_key: " + key + "\npeers:\n  - public_key: x\n    allowed_ips: [bad]\n", "peers[0]"},
		{"bad keepalive", "interface: wg0\nprivate_key: " + key + "\npeers:\n  - public_key: " + key + "\n    persistent_keepalive: 70000\n", "persistent_keepalive"},
	}
	for _, c := range cases {
		path := filepath.Join(t.TempDir(), "peer.yaml")
		if err := os.WriteFile(path, []byte(c.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadConfig(path)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want it to name %q and the file", c.name, err, c.want)
		}
	}
}
