package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunCheck(t *testing.T) {
	dir := t.TempDir()
	g := newGatewayFiles(t)
	good := g.identity(g.chain, g.key, g.bundle) + "listen: {udp: 192.0.2.1:51820}\nsite_prefixes: [10.1.0.0/24]\n"
	tests := []struct {
		name, body string
		args       []string
		want       int
	}{
		{"valid", good, []string{"--check"}, 0},
		{"a missing file", strings.Replace(good, g.crl, g.crl+".gone", 1), []string{"--check"}, 1},
		{"not YAML", "identity: [\n", []string{"--check"}, 1},
		{"invalid", good + "surprise: 1\n", []string{"--check"}, 1},
		{"path below 1280", good + "path_mtu: 1200\n", []string{"--check"}, 1},
		{"IPv6 over a 1280 path", good + "path_mtu: 1280\nremotes: [{name: b, identity: b.example, allowed_prefixes: ['fd02::/64']}]\n", []string{"--check"}, 1},
		{"IPv4 over a 1280 path", good + "path_mtu: 1280\nremotes: [{name: b, identity: b.example, allowed_prefixes: [10.2.0.0/24]}]\n", []string{"--check"}, 0},
		{"guard, invalid", good + "surprise: 1\n", []string{"--guard"}, 1},
		{"missing", "", []string{"--check"}, 2},
		{"extra argument", good, []string{"--check", "now"}, 2},
		{"unknown flag", good, []string{"--chek"}, 2},
		{"log level flag", good, []string{"--check", "--log-level", "debug"}, 0},
		{"bad log level flag", good, []string{"--check", "--log-level", "verbose"}, 2},
		{"bad log_level", good + "log_level: loud\n", []string{"--check"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".yaml")
			if tc.body != "" {
				if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if got := run(append([]string{"--config", path}, tc.args...)); got != tc.want {
				t.Errorf("exit %d, want %d", got, tc.want)
			}
		})
	}
}
