// Package statestore opens the stores that the daemon's store section
// names: bbolt files in the state directory (one host), or one etcd
// cluster that several gateways share.
package statestore

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"intransit/internal/daemonconfig"
	"intransit/internal/etcdconn"
	"intransit/internal/storeguard"
	"intransit/p2s"
	p2sbolt "intransit/p2s/store/bolt"
	p2setcd "intransit/p2s/store/etcd"
	"intransit/pki/store"
	pkietcd "intransit/pki/store/etcd"
)

// Stores are the open stores of a daemon.
type Stores struct {
	// P2S is the point-to-site state.
	P2S p2s.Store
	// PKI is the PKI's record store when it is shared (etcd); nil with
	// bolt, where the PKI keeps its file in its own directory.
	PKI store.Store
	// Guard follows whether the shared store answers; every call of P2S
	// goes through it (nil with bolt).
	Guard  *storeguard.Guard
	cl     *clientv3.Client
	prefix string
	cancel context.CancelFunc
	done   chan struct{}
}

// Open opens the stores of cfg. With bolt the point-to-site file is
// stateDir/p2s/p2s.db; with etcd, leases not touched for leaseIdle expire
// in etcd by themselves.
func Open(ctx context.Context, cfg daemonconfig.Store, stateDir string, leaseIdle time.Duration, log *slog.Logger) (*Stores, error) {
	switch cfg.Backend {
	case daemonconfig.StoreBolt, "":
		st, err := p2sbolt.Open(filepath.Join(stateDir, "p2s", p2sbolt.FileName))
		if err != nil {
			return nil, err
		}
		return &Stores{P2S: st}, nil
	case daemonconfig.StoreEtcd:
		e := cfg.Etcd
		cl, err := etcdconn.Dial(ctx, e.Conn(), log)
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		// A first read shows at start, not at the first client, that the
		// cluster is reachable with these credentials.
		check, cancel := context.WithTimeout(ctx, etcdconn.DefaultDialTimeout)
		defer cancel()
		if _, err := cl.Get(check, e.Prefix, clientv3.WithCountOnly(), clientv3.WithPrefix()); err != nil {
			cl.Close()
			return nil, fmt.Errorf("store: etcd %v: %w", e.Endpoints, err)
		}
		probeKey := e.Prefix + "health"
		g := &storeguard.Guard{Name: "etcd", Logger: log, Probe: func(ctx context.Context) error {
			_, err := cl.Get(ctx, probeKey, clientv3.WithCountOnly())
			return err
		}}
		gctx, gcancel := context.WithCancel(context.Background())
		s := &Stores{
			P2S:   storeguard.NewP2S(p2setcd.New(cl, p2setcd.Options{Prefix: e.Prefix, LeaseIdle: leaseIdle}), g),
			PKI:   pkietcd.New(cl, e.Prefix),
			Guard: g,
			cl:    cl, prefix: e.Prefix, cancel: gcancel, done: make(chan struct{}),
		}
		go func() { defer close(s.done); g.Run(gctx) }()
		return s, nil
	}
	return nil, fmt.Errorf("store: unknown backend %q", cfg.Backend)
}

// Close closes the stores and the etcd connection.
func (s *Stores) Close() error {
	if s.cancel != nil {
		s.cancel()
		<-s.done
	}
	err := s.P2S.Close()
	if s.PKI != nil {
		if e := s.PKI.Close(); err == nil {
			err = e
		}
	}
	if s.cl != nil {
		if e := s.cl.Close(); err == nil {
			err = e
		}
	}
	return err
}

// Holders returns the claims of the gateway id on the shared store (see
// p2s.Holders), for gateways that serve the same clients; nil with bolt,
// where one gateway serves alone.
func (s *Stores) Holders(id string, log *slog.Logger) (p2s.Holders, error) {
	if s.cl == nil {
		return nil, nil
	}
	h, err := p2setcd.NewHolders(s.cl, p2setcd.HolderOptions{Prefix: s.prefix, ID: id, Logger: log})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// OpenPKI opens the PKI's record store alone, for commands run on any host
// that reaches the store: on etcd, a store whose Close also closes the
// connection; with bolt, nil (the PKI opens the file in its directory).
func OpenPKI(ctx context.Context, cfg daemonconfig.Store, log *slog.Logger) (store.Store, error) {
	if cfg.Backend != daemonconfig.StoreEtcd {
		return nil, nil
	}
	s, err := Open(ctx, cfg, "", 0, log)
	if err != nil {
		return nil, err
	}
	return &pkiOnly{Store: s.PKI, all: s}, nil
}

// pkiOnly is a PKI store that owns its connection.
type pkiOnly struct {
	store.Store
	all *Stores
}

func (p *pkiOnly) Close() error { return p.all.Close() }

// Etcd returns the connection to the shared store; nil with bolt.
func (s *Stores) Etcd() *clientv3.Client { return s.cl }
