// Package etcdconn dials the etcd cluster that gateways share their state
// through (its endpoints, over TLS built by tlspolicy with a client
// certificate from the project's own PKI), and settles writes whose answer
// was lost (Applied) for the stores on it.
package etcdconn

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"intransit/tlspolicy"
)

// DefaultDialTimeout bounds the first connection.
const DefaultDialTimeout = 5 * time.Second

// KeepAlive is the gRPC keepalive interval and timeout (etcd refuses pings
// more often than its --grpc-keepalive-min-time, 5 s by default). gRPC also
// makes it the socket's TCP_USER_TIMEOUT: a connection whose data stays
// unacknowledged that long (a partition) is dropped and dialled again.
const KeepAlive = 5 * time.Second

// ReconnectMax bounds the wait between two connection attempts to a member,
// and one attempt.
const ReconnectMax = 500 * time.Millisecond

// Config is how to reach a cluster.
type Config struct {
	// Endpoints are the members' client URLs (https://host:2379; http://
	// only for loopback tests without TLS material).
	Endpoints []string
	// CA is the bundle the members' server certificates chain to; Cert and
	// Key are this host's client certificate (chain) and key (PEM files).
	// All three or none.
	CA, Cert, Key string
	// ServerName is the name the members' certificates are verified
	// against; empty means the endpoints' host, which must then be the
	// same for every endpoint.
	ServerName string
	// Profile is the TLS profile (a tlspolicy built-in name or a file);
	// empty means tlspolicy.Modern.
	Profile string
	// DialTimeout bounds the first connection (DefaultDialTimeout when 0).
	DialTimeout time.Duration
}

// FieldError is what Check finds wrong, naming the field (and the index
// of an endpoint, -1 otherwise).
type FieldError struct {
	Field string
	Index int
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Index >= 0 {
		return fmt.Sprintf("%s[%d]: %s", e.Field, e.Index, e.Msg)
	}
	return e.Field + ": " + e.Msg
}

// Check reports what is wrong with c as a *FieldError.
func (c Config) Check() error {
	if len(c.Endpoints) == 0 {
		return &FieldError{"endpoints", -1, "at least one is required"}
	}
	tlsOn := c.CA != "" || c.Cert != "" || c.Key != ""
	if tlsOn && (c.CA == "" || c.Cert == "" || c.Key == "") {
		return &FieldError{"ca", -1, "ca, cert and key: all three or none"}
	}
	host := ""
	for i, ep := range c.Endpoints {
		u, err := url.Parse(ep)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.Path != "" && u.Path != "/" {
			return &FieldError{"endpoints", i, fmt.Sprintf("%q is not an http(s)://host:port URL", ep)}
		}
		if tlsOn != (u.Scheme == "https") {
			return &FieldError{"endpoints", i, fmt.Sprintf("%q: https needs ca, cert and key, and they need https", ep)}
		}
		if i > 0 && u.Hostname() != host && c.ServerName == "" && tlsOn {
			return &FieldError{"server_name", -1, fmt.Sprintf("required when the endpoints have different hosts (%s, %s)", host, u.Hostname())}
		}
		host = u.Hostname()
	}
	return nil
}

// Dial connects to the cluster. The client is the caller's to close.
func Dial(ctx context.Context, c Config, log *slog.Logger) (*clientv3.Client, error) {
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	timeout := c.DialTimeout
	if timeout == 0 {
		timeout = DefaultDialTimeout
	}
	cfg := clientv3.Config{
		Endpoints: c.Endpoints, DialTimeout: timeout, Context: ctx, Logger: zap.NewNop(),
		DialKeepAliveTime: KeepAlive, DialKeepAliveTimeout: KeepAlive,
		// gRPC's default backoff grows to two minutes while the cluster is
		// cut off; reconnect within a second of it coming back, so that
		// the revocations made meanwhile apply at once.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: ReconnectMax},
			MinConnectTimeout: ReconnectMax,
		})},
	}
	if c.CA != "" {
		name := c.Profile
		if name == "" {
			name = tlspolicy.Modern
		}
		prof, err := tlspolicy.LoadProfile(name)
		if err != nil {
			return nil, fmt.Errorf("etcd: TLS profile: %w", err)
		}
		cert, err := tlspolicy.LoadKeyPairFiles(c.Cert, c.Key, prof, log)
		if err != nil {
			return nil, fmt.Errorf("etcd: client certificate: %w", err)
		}
		cas, err := tlspolicy.LoadCAFile(c.CA, log)
		if err != nil {
			return nil, fmt.Errorf("etcd: CA: %w", err)
		}
		server := c.ServerName
		if server == "" {
			u, _ := url.Parse(c.Endpoints[0])
			server = u.Hostname()
		}
		tc, err := tlspolicy.ClientConfig(tlspolicy.Options{Profile: prof, Certificate: cert, CAs: cas, ServerName: server, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("etcd: %w", err)
		}
		cfg.TLS = tc
	}
	cl, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd %v: %w", c.Endpoints, err)
	}
	return cl, nil
}

// VerifyTimeout bounds the read of Applied.
const VerifyTimeout = 10 * time.Second

// Applied reports whether a write whose answer was lost (the cluster did
// not answer in time, as when its leader dies) was applied after all: a
// linearizable read finds the value the write put at key. It is meant for
// values that carry their writer's own timestamps or contents, which no
// other writer puts.
func Applied(ctx context.Context, cl *clientv3.Client, key, want string) bool {
	if ctx.Err() != nil {
		return false
	}
	vctx, cancel := context.WithTimeout(ctx, VerifyTimeout)
	defer cancel()
	resp, err := cl.Get(vctx, key)
	return err == nil && len(resp.Kvs) == 1 && string(resp.Kvs[0].Value) == want
}
