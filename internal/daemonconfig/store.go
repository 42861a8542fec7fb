package daemonconfig

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"intransit/internal/etcdconn"
)

// Store backends.
const (
	// StoreBolt keeps the state in bbolt files under state_dir: one host.
	StoreBolt = "bolt"
	// StoreEtcd keeps it in an etcd cluster that several gateways share.
	StoreEtcd = "etcd"
	// DefaultEtcdPrefix starts every key intransit writes to etcd.
	DefaultEtcdPrefix = "/intransit/"
)

// Store is the optional store section: where the point-to-site state
// (clients, tokens, leases, static devices) and the PKI records live.
//
//	store:
//	  backend: etcd                   # bolt (default: files in state_dir) | etcd
//	  etcd:
//	    endpoints: [https://10.0.0.5:2379, https://10.0.0.6:2379, https://10.0.0.7:2379]
//	    ca: etcd-ca.pem               # CAs of the members' certificates
//	    cert: gw-a-chain.pem          # this gateway's client certificate
//	    key: gw-a.key                 # (from the intransit PKI)
//	    server_name: etcd.example     # when the endpoints' hosts differ
//	    prefix: /intransit/           # gateways with one prefix share state
//	    dial_timeout: 5s
type Store struct {
	// Backend is StoreBolt or StoreEtcd (StoreBolt when absent).
	Backend string `yaml:"backend"`
	// Etcd is the cluster, for StoreEtcd.
	Etcd *EtcdStore `yaml:"etcd"`
}

// EtcdStore is how to reach the etcd cluster.
type EtcdStore struct {
	// Endpoints are the members' client URLs.
	Endpoints []string `yaml:"endpoints"`
	// CA, Cert and Key are PEM files: the members' CAs, and this host's
	// client certificate (chain) and key.
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ServerName is what the members' certificates are verified against
	// (the endpoints' host when empty).
	ServerName string `yaml:"server_name"`
	// Prefix starts every key (DefaultEtcdPrefix when empty).
	Prefix string `yaml:"prefix"`
	// DialTimeout bounds the first connection.
	DialTimeout Duration `yaml:"dial_timeout"`
}

// Conn is how to dial the cluster.
func (e *EtcdStore) Conn() etcdconn.Config {
	return etcdconn.Config{Endpoints: e.Endpoints, CA: e.CA, Cert: e.Cert, Key: e.Key, ServerName: e.ServerName, DialTimeout: e.DialTimeout.Duration}
}

// store validates the store section.
func (v *validator) store(c *Config) {
	s := &c.Store
	switch s.Backend {
	case "":
		s.Backend = StoreBolt
	case StoreBolt, StoreEtcd:
	default:
		v.fail(0, []any{"store", "backend"}, "%q: want %s or %s", s.Backend, StoreBolt, StoreEtcd)
		return
	}
	if s.Backend == StoreBolt {
		if s.Etcd != nil {
			v.fail(0, []any{"store", "etcd"}, "set, but backend is %s", StoreBolt)
		}
		return
	}
	e := s.Etcd
	if e == nil {
		v.fail(0, []any{"store", "etcd"}, "required with backend %s", StoreEtcd)
		return
	}
	at := func(f ...any) []any { return append([]any{"store", "etcd"}, f...) }
	for _, f := range []struct {
		name string
		val  *string
	}{{"ca", &e.CA}, {"cert", &e.Cert}, {"key", &e.Key}} {
		if *f.val == "" {
			v.fail(0, at(f.name), "required: gateways reach etcd over TLS with a client certificate")
		}
		*f.val = resolve(c.Path, *f.val)
	}
	if e.Prefix == "" {
		e.Prefix = DefaultEtcdPrefix
	}
	if !strings.HasPrefix(e.Prefix, "/") || !strings.HasSuffix(e.Prefix, "/") {
		v.fail(0, at("prefix"), "%q: want a prefix that starts and ends with /", e.Prefix)
	}
	if d := e.DialTimeout.Duration; d != 0 && (d < 100*time.Millisecond || d > time.Minute) {
		v.fail(e.DialTimeout.Line, at("dial_timeout"), "%s: want between 100ms and 1m", d)
	}
	if err := e.Conn().Check(); err != nil {
		var fe *etcdconn.FieldError
		if errors.As(err, &fe) {
			path := at(fe.Field)
			if fe.Index >= 0 {
				path = append(path, fe.Index)
			}
			v.fail(0, path, "%s", fe.Msg)
		} else {
			v.fail(0, at(), "%v", err)
		}
	}
}

// LoadStore reads the store section of a file: an intransitd configuration
// or a file holding only that section, for commands run on hosts that
// reach the store without running the daemon. The section is parsed and
// validated as strictly as by Load; the rest of the file is not read.
func LoadStore(path string) (Store, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Store{}, fmt.Errorf("read store config: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Store{}, yamlError(path, err)
	}
	if root.Kind == 0 {
		return Store{}, &Error{File: path, Msg: "the file is empty"}
	}
	var file struct {
		Store *Store `yaml:"store"`
	}
	v := validator{file: path, root: &root}
	if n := valueOf(&root, "store"); n != nil {
		v.unknownKeys(n, reflect.TypeOf(Store{}), []any{"store"})
	}
	if err := root.Decode(&file); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return Store{}, yamlError(path, err)
		}
		for _, msg := range te.Errors {
			v.decodeError(msg)
		}
	}
	if file.Store == nil {
		if err := v.result(); err != nil {
			return Store{}, err
		}
		return Store{}, &Error{File: path, Field: "store", Msg: "no store section"}
	}
	c := &Config{Path: path, Store: *file.Store}
	v.store(c)
	if err := v.result(); err != nil {
		return Store{}, err
	}
	return c.Store, nil
}
