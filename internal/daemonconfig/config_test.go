package daemonconfig

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const good = `log_format: json
state_dir: state
status_socket: run/status.sock
identity:
  cert: gw-a-chain.pem
  key: gw-a.key
  ca: ca.pem
  crl: crl.pem
listen:
  control: 192.0.2.1:8443
  udp: 192.0.2.1:51820
  quic: 192.0.2.1:443
site_prefixes: [10.1.0.0/24, fd01::/64]
psk_rotation: 30s
remotes:
  - name: site-b
    identity: intransit://demo/gateway/gw-b
    control: [192.0.2.2:8443]
    transports: [quic, udp]
    allowed_prefixes: [10.2.0.0/24]
  - name: site-c
    identity: gw-c.example.org
    allowed_prefixes: [10.3.0.0/24]
`

func TestParseGood(t *testing.T) {
	c, err := Parse("/etc/intransitd/gw.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.Identity.Cert != "/etc/intransitd/gw-a-chain.pem" || c.StateDir != "/etc/intransitd/state" {
		t.Errorf("relative paths not resolved: cert %q state %q", c.Identity.Cert, c.StateDir)
	}
	if c.Identity.Profile != "pq" || c.Identity.CRLRefresh.Duration != DefaultCRLRefresh {
		t.Errorf("defaults: profile %q crl_refresh %s", c.Identity.Profile, c.Identity.CRLRefresh)
	}
	if c.LogLevel != "info" {
		t.Errorf("default log_level %q, want info", c.LogLevel)
	}
	if c.HandshakeTimeout.Duration != DefaultHandshakeTimeout {
		t.Errorf("handshake_timeout: %s, want the default", c.HandshakeTimeout)
	}
	if c.PSKRotation.Duration != 30*time.Second || c.DeadAfter.Duration != DefaultDeadAfter || c.PathMTU != DefaultPathMTU {
		t.Errorf("durations: %s %s %d", c.PSKRotation, c.DeadAfter, c.PathMTU)
	}
	if c.Interface.Name != DefaultInterface || c.Interface.MTU != 1380 {
		t.Errorf("interface %+v, want it0 with the quic MTU 1380", c.Interface)
	}
	ts := c.Listen.Transports()
	if len(ts) != 2 || ts[0].Name != "udp" || ts[1].Name != "quic" {
		t.Errorf("transports %+v", ts)
	}
	if got := c.Remotes[1].Transports; strings.Join(got, ",") != "udp,quic,tls" {
		t.Errorf("default transport order %v", got)
	}
	if c.Remotes[0].Line != 16 {
		t.Errorf("remote line %d, want 16", c.Remotes[0].Line)
	}
	if c.Remotes[0].Control[0].AddrPort != netip.MustParseAddrPort("192.0.2.2:8443") {
		t.Errorf("control %v", c.Remotes[0].Control)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name       string
		old, new   string
		line       int
		field, msg string
	}{
		{"unknown key", "psk_rotation: 30s", "psk_rotaton: 30s", 14, "psk_rotaton", "unknown field (did you mean psk_rotation?)"},
		{"wrong type", "psk_rotation: 30s", "psk_rotation: [1]", 14, "psk_rotation", "want a duration"},
		{"bad duration", "psk_rotation: 30s", "psk_rotation: soon", 14, "psk_rotation", "invalid duration"},
		{"invalid prefix", "[10.1.0.0/24, fd01::/64]", "[10.1.0.0/24, 10.1.0.300/24]", 13, "site_prefixes", "invalid prefix"},
		{"host bits", "[10.1.0.0/24, fd01::/64]", "[10.1.0.1/24]", 13, "site_prefixes", "host bits"},
		{"overlap in list", "[10.1.0.0/24, fd01::/64]", "[10.1.0.0/16, 10.1.2.0/24]", 13, "site_prefixes[1]", "overlaps 10.1.0.0/16"},
		{"overlap with site", "allowed_prefixes: [10.2.0.0/24]", "allowed_prefixes: [10.1.0.128/25]", 20, "remotes[0].allowed_prefixes[0]", "overlaps site_prefixes[0]"},
		{"overlap between remotes", "allowed_prefixes: [10.3.0.0/24]", "allowed_prefixes: [10.2.0.0/16]", 23, "remotes[1].allowed_prefixes[0]", "overlaps remotes[0]"},
		{"missing cert", "  cert: gw-a-chain.pem\n", "", 4, "identity.cert", "required"},
		{"missing crl", "  crl: crl.pem\n", "", 4, "identity.crl", "required"},
		{"bad identity", "identity: gw-c.example.org", "identity: not a name", 22, "remotes[1].identity", "neither a URI"},
		{"duplicate name", "name: site-c", "name: site-b", 21, "remotes[1].name", "also remotes[0]"},
		{"bad transport", "transports: [quic, udp]", "transports: [quic, ipsec]", 19, "remotes[0].transports[1]", "want udp"},
		{"bad log format", "log_format: json", "log_format: xml", 1, "log_format", "want text or json"},
		{"bad log level", "log_format: json", "log_format: json\nlog_level: verbose", 2, "log_level", `"verbose": want debug, info, warn or error`},
		{"log level in capitals", "log_format: json", "log_format: json\nlog_level: DEBUG", 2, "log_level", "want debug, info, warn or error"},
		{"no transport", "  udp: 192.0.2.1:51820\n  quic: 192.0.2.1:443\n", "", 9, "listen", "at least one"},
		{"port zero", "udp: 192.0.2.1:51820", "udp: 192.0.2.1:0", 11, "listen.udp", "port 0"},
		{"unspecified dial", "control: [192.0.2.2:8443]", "control: ['0.0.0.0:8443']", 18, "remotes[0].control[0]", "unspecified"},
		{"dead_after", "psk_rotation: 30s", "psk_rotation: 30s\ndead_after: 1s", 15, "dead_after", "must exceed keepalive"},
		{"handshake_timeout", "psk_rotation: 30s", "psk_rotation: 30s\nhandshake_timeout: 2m", 15, "handshake_timeout", "longer than 1m0s"},
		{"pprof without metrics", "log_format: json", "log_format: json\nmetrics_pprof: true", 0, "metrics_pprof", "needs metrics_listen"},
		{"pprof not on loopback", "log_format: json", "log_format: json\nmetrics_listen: 192.0.2.1:9586\nmetrics_pprof: true", 0, "metrics_pprof", "loopback only"},
		{"unknown transport key", "  quic: 192.0.2.1:443", "  sctp: 192.0.2.1:443", 12, "listen.sctp", `"sctp" is neither control nor a transport (udp, quic, tls)`},
		{"same udp port", "  quic: 192.0.2.1:443", "  quic: 192.0.2.1:51820", 12, "listen.quic", "UDP port 51820 is also listen.udp"},
		{"tls on control port", "  quic: 192.0.2.1:443", "  tls: 192.0.2.1:8443", 12, "listen.tls", "TCP port 8443 is also listen.control"},
		{"path below 1280", "psk_rotation: 30s", "psk_rotation: 30s\npath_mtu: 1200", 15, "path_mtu", "below 1280, the smallest the transports support"},
		{"IPv6 over a small path", "psk_rotation: 30s", "psk_rotation: 30s\npath_mtu: 1280", 13, "site_prefixes[1]", "fd01::/64: the inner MTU is 1160 over a path MTU of 1280, below the 1280 that IPv6 requires"},
		{"two documents", "log_format: json", "log_format: json\n---\nx: 1\n---", 0, "", "more than one YAML document"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(good, tc.old, tc.new, 1)
			if src == good {
				t.Fatalf("replacement %q not found", tc.old)
			}
			_, err := Parse("gw.yaml", []byte(src))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T), want *Error", err, err)
			}
			for _, e := range List(err) { // every error is reported: find the one meant
				if e.Field == tc.field && strings.Contains(e.Msg, tc.msg) {
					ce = e
				}
			}
			if ce.File != "gw.yaml" || (tc.line != 0 && ce.Line != tc.line) || ce.Field != tc.field || !strings.Contains(ce.Msg, tc.msg) {
				t.Errorf("got %q (line %d field %q), want line %d field %q containing %q (all: %v)", ce, ce.Line, ce.Field, tc.line, tc.field, tc.msg, err)
			}
		})
	}
}

// TestInnerMTUFollowsPathMTU: the interface MTU derives from path_mtu and
// the served transports.
func TestInnerMTUFollowsPathMTU(t *testing.T) {
	for _, tc := range []struct {
		edit string
		want int
	}{
		{"path_mtu: 1500", 1380},
		{"path_mtu: 1400", 1280},
		{"path_mtu: 1280", 1160},
	} {
		cfg := strings.Replace(good, "site_prefixes: [10.1.0.0/24, fd01::/64]", "site_prefixes: [10.1.0.0/24]\n"+tc.edit, 1)
		c, err := Parse("gw.yaml", []byte(cfg))
		if err != nil {
			t.Fatalf("%s: %v", tc.edit, err)
		}
		if c.Interface.MTU != tc.want {
			t.Errorf("%s: interface MTU %d, want %d", tc.edit, c.Interface.MTU, tc.want)
		}
	}
}

func TestLoad(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	p := filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty file: %v", err)
	}
}

func TestMetricsPprofOnLoopback(t *testing.T) {
	src := strings.Replace(good, "log_format: json", "log_format: json\nmetrics_listen: '[::1]:9586'\nmetrics_pprof: true", 1)
	c, err := Parse("gw.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if !c.MetricsPprof {
		t.Error("metrics_pprof not read")
	}
}
