package docs

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"intransit/internal/daemonconfig"
)

// minimal is a configuration that gives only what is required, so that
// every other setting takes its default.
const minimal = `
identity: {cert: gw.pem, key: gw.key, ca: ca.pem, crl: crl.pem}
listen: {udp: 192.0.2.1:51820}
site_prefixes: [10.1.0.0/24]
p2s:
  listen: {udp: 192.0.2.1:51821}
  pools: [10.9.0.0/24]
  groups: [{name: default}]
console: {listen: 127.0.0.1:9090}
`

// TestReferenceDefaultsAreTheDaemons parses a minimal configuration with
// the daemon's own parser and checks that the defaults it fills in are the
// ones the reference gives.
func TestReferenceDefaultsAreTheDaemons(t *testing.T) {
	cfg, err := daemonconfig.Parse("/etc/intransit/intransitd.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	noP2S, err := daemonconfig.Parse("/etc/intransit/intransitd.yaml", []byte(strings.Split(minimal, "p2s:")[0]))
	if err != nil {
		t.Fatal(err)
	}
	d := func(v daemonconfig.Duration) string { return v.Duration.String() }
	got := map[string]string{
		"log_format":             cfg.LogFormat,
		"log_level":              cfg.LogLevel,
		"state_dir":              cfg.StateDir,
		"status_socket":          cfg.StatusSocket,
		"identity.profile":       cfg.Identity.Profile,
		"interface.name":         cfg.Interface.Name,
		"listen.control":         cfg.Listen.Control.String(),
		"psk_rotation":           d(cfg.PSKRotation),
		"keepalive":              d(cfg.Keepalive),
		"dead_after":             d(cfg.DeadAfter),
		"handshake_timeout":      d(cfg.HandshakeTimeout),
		"path_mtu":               strconv.Itoa(cfg.PathMTU),
		"p2s.interface.name":     cfg.P2S.Interface.Name,
		"p2s.listen.control":     cfg.P2S.Listen.Control.String(),
		"p2s.enroll_profile":     cfg.P2S.EnrollProfile,
		"p2s.admin_socket":       cfg.P2S.AdminSocket,
		"p2s.client_ttl":         d(cfg.P2S.ClientTTL),
		"p2s.client_keepalive":   d(cfg.P2S.ClientKeepalive),
		"p2s.lease_idle":         d(cfg.P2S.LeaseIdle),
		"p2s.max_clients":        strconv.Itoa(cfg.P2S.MaxClients),
		"console.tls_profile":    cfg.Console.TLSProfile,
		"console.expiry_warning": d(cfg.Console.ExpiryWarning),
		"store.backend":          cfg.Store.Backend,
		"identity.crl_refresh":   fmt.Sprintf("%s (%s with a p2s section)", noP2S.Identity.CRLRefresh.Duration, cfg.Identity.CRLRefresh.Duration),
	}
	entries := Entries()
	for name, value := range got {
		want := entries[name].Default
		if normalize(want) != normalize(value) {
			t.Errorf("%s: the reference says the default is %q, the daemon uses %q", name, want, value)
		}
	}
}

// normalize writes the durations of s the way time.Duration prints them,
// so that "2m" and "2m0s" compare equal.
func normalize(s string) string {
	words := strings.Fields(s)
	for i, w := range words {
		trimmed := strings.Trim(w, "()")
		if v, err := time.ParseDuration(trimmed); err == nil {
			words[i] = strings.Replace(w, trimmed, v.String(), 1)
		}
	}
	return strings.Join(words, " ")
}
