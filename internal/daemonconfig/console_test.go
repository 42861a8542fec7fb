package daemonconfig

import (
	"errors"
	"strings"
	"testing"
)

func TestParseConsole(t *testing.T) {
	c, err := Parse("/etc/intransitd/gw.yaml", []byte(goodP2S+"console: {listen: 127.0.0.1:9090}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cs := c.Console
	if !cs.Loopback() || cs.TLSProfile != "modern" || cs.ExpiryWarning.Duration != DefaultConsoleExpiryWarning || cs.EnrollURL != "" {
		t.Errorf("defaults: %+v", cs)
	}
	c, err = Parse("/etc/intransitd/gw.yaml", []byte(goodP2S+"console:\n  listen: 0.0.0.0:9443\n  enroll_url: https://vpn.example.com:8445\n  expiry_warning: 72h\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Console.Loopback() || c.Console.ExpiryWarning.Duration.Hours() != 72 {
		t.Errorf("console %+v", c.Console)
	}
	if c, err := Parse("gw.yaml", []byte(good)); err != nil || c.Console != nil {
		t.Errorf("no console section: %+v, %v", c, err)
	}
}

func TestConsoleErrors(t *testing.T) {
	base := goodP2S + "console:\n  listen: 127.0.0.1:9090\n"
	for _, tc := range []struct {
		name, from, to, field string
		line                  int
	}{
		{"no listen", "listen: 127.0.0.1:9090", "expiry_warning: 1h", "console.listen", 40},
		{"bad address", "listen: 127.0.0.1:9090", "listen: localhost:9090", "console.listen", 41},
		{"control port", "listen: 127.0.0.1:9090", "listen: 127.0.0.1:8443", "console.listen", 41},
		{"http enroll url", "listen: 127.0.0.1:9090", "listen: 127.0.0.1:9090\n  enroll_url: http://vpn.example.com", "console.enroll_url", 42},
		{"unknown profile", "listen: 127.0.0.1:9090", "listen: 127.0.0.1:9090\n  tls_profile: nosuch", "console.tls_profile", 42},
		{"unknown key", "listen: 127.0.0.1:9090", "listen: 127.0.0.1:9090\n  listen_tls: true", "console.listen_tls", 42},
		{"negative warning", "listen: 127.0.0.1:9090", "listen: 127.0.0.1:9090\n  expiry_warning: -1h", "console.expiry_warning", 42},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(base, tc.from, tc.to, 1)
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
	// An enrollment link needs an enrollment API.
	_, err := Parse("gw.yaml", []byte(good+"console: {listen: 127.0.0.1:9090, enroll_url: https://vpn.example.com}\n"))
	if err == nil || !strings.Contains(err.Error(), "console.enroll_url: there is no enrollment API") {
		t.Errorf("enroll_url without p2s: %v", err)
	}
}
