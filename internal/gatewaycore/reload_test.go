package gatewaycore

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"intransit/internal/daemonconfig"
)

// TestConfigFieldsCoverTheConfig: every key of the configuration file is
// in the table, so that a new setting cannot be forgotten by reloads.
func TestConfigFieldsCoverTheConfig(t *testing.T) {
	names := map[string]bool{}
	for _, f := range ConfigFields() {
		if names[f.Name] {
			t.Errorf("%s listed twice", f.Name)
		}
		names[f.Name] = true
	}
	covered := func(key string) bool {
		if names[key] {
			return true
		}
		for n := range names {
			if strings.HasPrefix(n, key+".") {
				return true
			}
		}
		return false
	}
	ct := reflect.TypeOf(daemonconfig.Config{})
	for i := range ct.NumField() {
		key, _, _ := strings.Cut(ct.Field(i).Tag.Get("yaml"), ",")
		if key == "" || key == "-" {
			continue
		}
		if !covered(key) {
			t.Errorf("setting %q is not in ConfigFields: say whether a reload applies it", key)
		}
	}
	it := reflect.TypeOf(daemonconfig.Identity{})
	for i := range it.NumField() {
		key, _, _ := strings.Cut(it.Field(i).Tag.Get("yaml"), ",")
		if !names["identity."+key] {
			t.Errorf("setting identity.%s is not in ConfigFields", key)
		}
	}
}

func TestRestartOnly(t *testing.T) {
	base := func() *daemonconfig.Config {
		c := &daemonconfig.Config{DeadAfter: daemonconfig.Duration{Duration: 15 * time.Second}}
		c.HandshakeTimeout.Duration = 5 * time.Second
		return c
	}
	tests := []struct {
		name   string
		change func(*daemonconfig.Config)
		want   string
	}{
		{"nothing", func(*daemonconfig.Config) {}, ""},
		{"remotes", func(c *daemonconfig.Config) { c.Remotes = []daemonconfig.Remote{{Name: "site-c"}} }, ""},
		{"dead_after", func(c *daemonconfig.Config) { c.DeadAfter.Duration = time.Minute }, "dead_after"},
		{"handshake_timeout", func(c *daemonconfig.Config) { c.HandshakeTimeout.Duration = time.Second }, "handshake_timeout"},
		{"certificate path", func(c *daemonconfig.Config) { c.Identity.Cert = "other.pem" }, "identity.cert"},
		{"p2s", func(c *daemonconfig.Config) { c.P2S = &daemonconfig.P2S{} }, "p2s"},
	}
	for _, tc := range tests {
		b := base()
		tc.change(b)
		if got := RestartOnly(base(), b); got != tc.want {
			t.Errorf("%s: RestartOnly = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestRestartOnlyIgnoresLines: a setting is the same where it is written
// lower in the file (a comment and the log level added above the
// sections: the reload applies the log level); a changed value of the
// p2s section, or of the console, still needs a restart.
func TestRestartOnlyIgnoresLines(t *testing.T) {
	const file = `identity: {cert: a.pem, key: a.key, ca: ca.pem, crl: crl.pem}
site_prefixes: [10.1.0.0/24]
p2s:
  listen: {control: 192.0.2.1:8444, udp: 192.0.2.1:51821}
  enroll: 192.0.2.1:8445
  pki: {dir: pki, key_file: pki.key}
  pools: [10.9.0.0/24]
  groups:
    - {name: staff, dns: [10.1.0.53], routes: [10.1.0.0/24]}
console: {listen: 127.0.0.1:9443}
`
	parse := func(s string) *daemonconfig.Config {
		t.Helper()
		c, err := daemonconfig.Parse("/etc/intransit/gw.yaml", []byte(s))
		if err != nil {
			t.Fatalf("%v\n%s", err, s)
		}
		return c
	}
	base := parse(file)
	moved := "# laptops only\nlog_level: debug\n" + file
	if got := RestartOnly(base, parse(moved)); got != "" {
		t.Errorf("lines moved down: RestartOnly = %q, want none", got)
	}
	for _, tc := range []struct{ old, new, want string }{
		{"dns: [10.1.0.53]", "dns: [10.1.0.54]", "p2s"},
		{"192.0.2.1:8445", "192.0.2.1:8447", "p2s"},
		{"127.0.0.1:9443", "127.0.0.1:9444", "console"},
	} {
		if got := RestartOnly(base, parse(strings.Replace(moved, tc.old, tc.new, 1))); got != tc.want {
			t.Errorf("%s -> %s: RestartOnly = %q, want %q", tc.old, tc.new, got, tc.want)
		}
	}
}
