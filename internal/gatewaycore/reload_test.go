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
