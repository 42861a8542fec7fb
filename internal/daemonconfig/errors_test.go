package daemonconfig

import (
	"fmt"
	"strings"
	"testing"
)

// TestEveryErrorReported: one parse reports every error of the file, each
// with its line and field, in file order, not only the first.
func TestEveryErrorReported(t *testing.T) {
	src := strings.NewReplacer(
		"log_format: json", "log_format: xml",
		"psk_rotation: 30s", "psk_rotaton: 30s",
		"  quic: 192.0.2.1:443", "  quic: 192.0.2.1:51820",
		"allowed_prefixes: [10.3.0.0/24]", "allowed_prefixes: [10.2.0.0/16]",
	).Replace(good)
	_, err := Parse("gw.yaml", []byte(src))
	got := List(err)
	want := []struct {
		line  int
		field string
		msg   string
	}{
		{1, "log_format", `"xml": want text or json`},
		{12, "listen.quic", "UDP port 51820 is also listen.udp: give each listener its own port"},
		{14, "psk_rotaton", "unknown field (did you mean psk_rotation?)"},
		{23, "remotes[1].allowed_prefixes[0]", "overlaps remotes[0].allowed_prefixes[0]"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(got), len(want), err)
	}
	for i, w := range want {
		g := got[i]
		if g.File != "gw.yaml" || g.Line != w.line || g.Field != w.field || !strings.Contains(g.Msg, w.msg) {
			t.Errorf("error %d: %s, want gw.yaml:%d: %s: ...%s...", i, g, w.line, w.field, w.msg)
		}
	}
	if s := err.Error(); !strings.HasPrefix(s, "gw.yaml:1: log_format: ") || strings.Count(s, "; gw.yaml:") != 3 {
		t.Errorf("joined: %s", s)
	}
}

// TestDidYouMean: an unknown key is named with its line and the field
// probably meant; no message names a Go type.
func TestDidYouMean(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		line           int
		field, msg     string
	}{
		{"typo", "psk_rotation: 30s", "psk_rotaton: 30s", 14, "psk_rotaton", "unknown field (did you mean psk_rotation?)"},
		{"dash for underscore", "psk_rotation: 30s", "psk-rotation: 30s", 14, "psk-rotation", "did you mean psk_rotation?"},
		{"capitals", "psk_rotation: 30s", "PSK_Rotation: 30s", 14, "PSK_Rotation", "did you mean psk_rotation?"},
		{"nested", "  crl: crl.pem", "  crl: crl.pem\n  crl_refesh: 5s", 9, "identity.crl_refesh", "did you mean identity.crl_refresh?"},
		{"in a list item", "    allowed_prefixes: [10.3.0.0/24]", "    alowed_prefixes: [10.3.0.0/24]", 23, "remotes[1].alowed_prefixes", "did you mean remotes[1].allowed_prefixes?"},
		{"in the wrong section", "psk_rotation: 30s", "psk_rotation: 30s\ncrl_refresh: 5s", 15, "crl_refresh", "did you mean identity.crl_refresh?"},
		{"transport", "  quic: 192.0.2.1:443", "  qiuc: 192.0.2.1:443", 12, "listen.qiuc", "did you mean quic?"},
		{"nothing alike", "psk_rotation: 30s", "psk_rotation: 30s\nbananas: 3", 15, "bananas", "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(good, tc.from, tc.to, 1)
			if src == good {
				t.Fatalf("replacement %q not found", tc.from)
			}
			_, err := Parse("gw.yaml", []byte(src))
			var e *Error
			for _, x := range List(err) {
				if x.Field == tc.field {
					e = x
				}
			}
			if e == nil {
				t.Fatalf("no error at %s: %v", tc.field, err)
			}
			if e.Line != tc.line || !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("got %s, want gw.yaml:%d: %s: ...%s...", e, tc.line, tc.field, tc.msg)
			}
			if tc.name == "nothing alike" && strings.Contains(e.Msg, "did you mean") {
				t.Errorf("suggests a field for a key like none: %s", e)
			}
			if strings.Contains(e.Error(), "daemonconfig") || strings.Contains(e.Error(), "not found in type") {
				t.Errorf("names a Go type: %s", e)
			}
		})
	}
}

// TestTypeErrorsInFileWords: a value of the wrong type is named by line and
// field and described as YAML, not as a Go type.
func TestTypeErrorsInFileWords(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		line           int
		field, msg     string
	}{
		{"mapping wanted", "log_format: json", "log_format: json\ninterface: it0", 2, "interface", "want a mapping, not a string (it0)"},
		{"list wanted", "site_prefixes: [10.1.0.0/24, fd01::/64]", "site_prefixes: 10.1.0.0/24", 13, "site_prefixes", "want a list, not a string (10.1.0.0/24)"},
		{"boolean wanted", "log_format: json", "log_format: json\nmetrics_pprof: maybe", 2, "metrics_pprof", "want true or false, not a string (maybe)"},
		{"number wanted", "log_format: json", "log_format: json\npath_mtu: big", 2, "path_mtu", "want a whole number, not a string (big)"},
		{"remote not a mapping", "  - name: site-c", "  - site-c\n  - name: site-c", 21, "remotes[1]", "want a mapping, not a string (site-c)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(good, tc.from, tc.to, 1)
			_, err := Parse("gw.yaml", []byte(src))
			errs := List(err)
			if len(errs) == 0 {
				t.Fatal("accepted")
			}
			e := errs[0]
			if e.Line != tc.line || e.Field != tc.field || e.Msg != tc.msg {
				t.Errorf("got %s, want gw.yaml:%d: %s: %s (all: %v)", e, tc.line, tc.field, tc.msg, err)
			}
			if strings.Contains(err.Error(), "daemonconfig") || strings.Contains(err.Error(), "unmarshal") {
				t.Errorf("names a Go type: %v", err)
			}
		})
	}
}

// TestWhere: a field's dotted name leads to its line.
func TestWhere(t *testing.T) {
	c, err := Parse("gw.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]string{
		"log_format":                     "gw.yaml:1",
		"identity.key":                   "gw.yaml:6",
		"listen.quic":                    "gw.yaml:12",
		"psk_rotation":                   "gw.yaml:14",
		"remotes[1]":                     "gw.yaml:21",
		"remotes[1].allowed_prefixes":    "gw.yaml:23",
		"remotes[0].control[0]":          "gw.yaml:18",
		"identity.profile":               "gw.yaml:4", // not written: its section
		"remotes[0].allowed_prefixes[0]": "gw.yaml:20",
	} {
		if got := c.Where(field); got != want {
			t.Errorf("Where(%q) = %s, want %s", field, got, want)
		}
	}
	if e := c.Errorf("identity.ca", "bad %d", 1); e.Error() != "gw.yaml:7: identity.ca: bad 1" {
		t.Errorf("Errorf: %s", e)
	}
}

// TestPortClashes: two listeners on one port of one protocol are refused
// across the sections (site-to-site, point-to-site, console, metrics).
func TestPortClashes(t *testing.T) {
	p2s := func(listen string) string {
		return "p2s:\n  listen: {" + listen + "}\n  pools: [10.9.0.0/24]\n  groups: [{name: staff}]\n"
	}
	for _, tc := range []struct {
		name, add string
		field     string // "" when there is no clash
		msg       string
	}{
		{"s2s and p2s quic on 443", p2s("quic: 0.0.0.0:443"), "p2s.listen.quic", "UDP port 443 is also listen.quic: give each listener its own port"},
		{"quic and tls share 443", p2s("tls: 0.0.0.0:443"), "", ""},
		{"p2s control on the s2s control port", p2s("control: 0.0.0.0:8443, udp: 0.0.0.0:51821"), "p2s.listen.control", "TCP port 8443 is also listen.control"},
		{"console on the p2s control port", p2s("udp: 0.0.0.0:51821") + "console: {listen: 127.0.0.1:8444}\n", "console.listen", "TCP port 8444 is also p2s.listen.control"},
		{"metrics on the console's address", "console: {listen: 127.0.0.1:9586}\nmetrics_listen: 127.0.0.1:9586\n", "metrics_listen", "TCP port 9586 is also console.listen"},
		{"metrics on another address", "console: {listen: 127.0.0.1:9586}\nmetrics_listen: 127.0.0.2:9586\n", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("gw.yaml", []byte(good+tc.add))
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			errs := List(err)
			if len(errs) != 1 || errs[0].Field != tc.field || !strings.Contains(errs[0].Msg, tc.msg) {
				t.Fatalf("got %v, want one error at %s: %s", err, tc.field, tc.msg)
			}
			if errs[0].Line <= 24 {
				t.Errorf("line %d is not in the added section", errs[0].Line)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	fields := []string{"cert", "key", "ca", "crl", "crl_refresh", "profile"}
	for key, want := range map[string]string{
		"crl_refersh": "crl_refresh", "prfile": "profile", "CERT": "cert", "keys": "key",
		"zz": "", "certificate": "", "crl-refresh": "crl_refresh",
	} {
		if got := suggest(key, fields); got != want {
			t.Errorf("suggest(%q) = %q, want %q", key, got, want)
		}
	}
	if d := distance("kitten", "sitting"); d != 3 {
		t.Errorf("distance %d, want 3", d)
	}
	if d := distance("qiuc", "quic"); d != 1 {
		t.Errorf("a transposition: distance %d, want 1", d)
	}
	if got := fmt.Sprint(parseField("remotes[1].allowed_prefixes[0]")); got != "[remotes 1 allowed_prefixes 0]" {
		t.Errorf("parseField: %s", got)
	}
}
