package daemonconfig

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goodStore = good + `store:
  backend: etcd
  etcd:
    endpoints: [https://10.0.0.5:2379, https://10.0.0.6:2379]
    ca: etcd-ca.pem
    cert: gw-chain.pem
    key: gw.key
    server_name: etcd.example
`

func TestStoreDefaultIsBolt(t *testing.T) {
	c, err := Parse("/etc/intransitd/gw.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Backend != StoreBolt || c.Store.Etcd != nil {
		t.Fatalf("store without a section: %+v, want bolt", c.Store)
	}
}

func TestParseStoreEtcd(t *testing.T) {
	c, err := Parse("/etc/intransitd/gw.yaml", []byte(goodStore))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Store.Etcd
	if c.Store.Backend != StoreEtcd || e.Prefix != DefaultEtcdPrefix || e.CA != "/etc/intransitd/etcd-ca.pem" ||
		e.Cert != "/etc/intransitd/gw-chain.pem" || e.Key != "/etc/intransitd/gw.key" || len(e.Endpoints) != 2 {
		t.Fatalf("etcd store: %+v", e)
	}
	if conn := e.Conn(); conn.Check() != nil || conn.Endpoints[1] != "https://10.0.0.6:2379" {
		t.Fatalf("conn: %+v", conn)
	}
}

func TestStoreErrors(t *testing.T) {
	base := strings.Count(good, "\n")
	for _, tc := range []struct {
		name, from, to, field string
		line                  int
	}{
		{"unknown backend", "backend: etcd", "backend: zookeeper", "store.backend", base + 2},
		{"etcd without its section", "  etcd:\n    endpoints: [https://10.0.0.5:2379, https://10.0.0.6:2379]\n    ca: etcd-ca.pem\n    cert: gw-chain.pem\n    key: gw.key\n    server_name: etcd.example\n", "", "store.etcd", base + 1},
		{"etcd section with bolt", "backend: etcd", "backend: bolt", "store.etcd", base + 3},
		{"no endpoints", "endpoints: [https://10.0.0.5:2379, https://10.0.0.6:2379]", "endpoints: []", "store.etcd.endpoints", base + 4},
		{"plain http endpoint", "https://10.0.0.6:2379", "http://10.0.0.6:2379", "store.etcd.endpoints[1]", base + 4},
		{"endpoint not a URL", "https://10.0.0.6:2379", "10.0.0.6:2379", "store.etcd.endpoints[1]", base + 4},
		{"no client key", "    key: gw.key\n", "", "store.etcd.key", base + 3},
		{"bad prefix", "key: gw.key", "key: gw.key\n    prefix: intransit", "store.etcd.prefix", base + 8},
		{"dial timeout too long", "key: gw.key", "key: gw.key\n    dial_timeout: 5m", "store.etcd.dial_timeout", base + 8},
		{"two hosts without server_name", "    server_name: etcd.example\n", "", "store.etcd.server_name", base + 3},
		{"unknown key", "key: gw.key", "key: gw.key\n    endpoint: x", "store.etcd.endpoint", base + 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(goodStore, tc.from, tc.to, 1)
			if text == goodStore {
				t.Fatalf("replacement %q not found", tc.from)
			}
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
}

func TestLoadStore(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// A whole daemon configuration: only its store section is read.
	s, err := LoadStore(write("gw.yaml", goodStore))
	if err != nil || s.Backend != StoreEtcd || s.Etcd.CA != filepath.Join(dir, "etcd-ca.pem") {
		t.Fatalf("from a daemon config: %+v %v", s, err)
	}
	// A file with the section alone.
	alone := write("store.yaml", "store:\n  backend: etcd\n  etcd:\n    endpoints: [https://127.0.0.1:2379]\n    ca: ca.pem\n    cert: c.pem\n    key: c.key\n")
	if s, err := LoadStore(alone); err != nil || s.Etcd.Prefix != DefaultEtcdPrefix {
		t.Fatalf("alone: %+v %v", s, err)
	}
	var ce *Error
	if _, err := LoadStore(write("none.yaml", "log_level: info\n")); !errors.As(err, &ce) || ce.Field != "store" {
		t.Fatalf("without a store section: %v", err)
	}
	bad := write("bad.yaml", "log_level: info\nstore:\n  backend: etcd\n  etcd:\n    endpoints: [127.0.0.1:2379]\n    ca: ca.pem\n    cert: c.pem\n    key: c.key\n")
	if _, err := LoadStore(bad); !errors.As(err, &ce) || ce.Field != "store.etcd.endpoints[0]" || ce.Line != 5 {
		t.Fatalf("bad endpoint: %v", err)
	}
	unknown := write("unknown.yaml", "store:\n  backend: etcd\n  etc: {}\n")
	if _, err := LoadStore(unknown); !errors.As(err, &ce) || ce.Line != 3 {
		t.Fatalf("unknown key in the section: %v", err)
	}
}
