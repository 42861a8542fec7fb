package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"intransit/internal/crlleader"
	"intransit/internal/daemonconfig"
	"intransit/internal/revfeed"
	"intransit/internal/statestore"
	"intransit/internal/status"
	"intransit/pki/store"
	"intransit/tlspolicy"
)

// fleet is what a daemon on a shared store (etcd) runs beside its
// gateways: the revocation feed followed into the peer checks of every
// gateway (site-to-site and point-to-site: one tlspolicy.Revocation), the
// CRL read from the store, and, when the daemon holds the CA, its
// candidacy to be the one gateway that signs and publishes the CRL.
type fleet struct {
	stores   *statestore.Stores
	feed     store.RevocationWatcher
	follower *revfeed.Follower
	leader   *crlleader.Leader
	log      *slog.Logger
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// openFleet connects to the shared store; nil when the store is bolt.
func openFleet(ctx context.Context, cfg *daemonconfig.Config, log *slog.Logger) (*fleet, error) {
	if cfg.Store.Backend != daemonconfig.StoreEtcd {
		return nil, nil
	}
	log = log.With("component", "fleet")
	st, err := statestore.Open(ctx, cfg.Store, cfg.StateDir, 0, log)
	if err != nil {
		return nil, err
	}
	feed, ok := st.PKI.(store.RevocationWatcher)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("store: the %s PKI store has no revocation feed", cfg.Store.Backend)
	}
	return &fleet{stores: st, feed: feed, log: log}, nil
}

// crlSource is the CRL source of the gateways: the store's CRL, file
// while the store holds none.
func (f *fleet) crlSource(file tlspolicy.CRLSource) tlspolicy.CRLSource {
	if f == nil {
		return file
	}
	return &revfeed.CRLSource{Store: f.stores.PKI, Fallback: file}
}

// start follows the feed into rev and, with a CA, runs for the CRL
// publisher.
func (f *fleet) start(cfg *daemonconfig.Config, rev *tlspolicy.Revocation, ca *caRuntime) {
	if f == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	f.follower = &revfeed.Follower{Feed: f.feed, Records: f.stores.PKI, Sinks: []revfeed.Sink{rev}, Logger: f.log}
	if ca != nil {
		host, _ := os.Hostname()
		name := fmt.Sprintf("%s/%d", host, os.Getpid())
		f.leader = crlleader.New(crlleader.Config{
			Client: f.stores.Etcd(), Key: cfg.Store.Etcd.Prefix + "pki/crl-publisher", Name: name,
			Signer: ca.ca, Pub: ca.pub, Every: crlCheckEvery, Logger: f.log,
		})
		f.follower.Then = func(store.Revocation) { f.leader.Kick() }
		f.wg.Add(1)
		go func() { defer f.wg.Done(); f.leader.Run(ctx) }()
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		if err := f.follower.Run(ctx); err != nil && ctx.Err() == nil {
			f.log.Error("revocation feed stopped", "error", err.Error())
		}
	}()
}

// crlPublisherWait bounds how long a status report waits for etcd to name
// the elected CRL publisher.
const crlPublisherWait = time.Second

// crlPublisher is the status of the CRL publisher election; nil without a
// shared store or without the CA (no candidacy).
func (f *fleet) crlPublisher(ctx context.Context) *status.CRLPublisher {
	if f == nil || f.leader == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, crlPublisherWait)
	defer cancel()
	name, self, err := f.leader.Elected(ctx)
	if err != nil {
		return &status.CRLPublisher{Error: err.Error()}
	}
	return &status.CRLPublisher{Self: self, Elected: name}
}

// close stops the follower and the candidacy and closes the store.
func (f *fleet) close() {
	if f == nil {
		return
	}
	if f.cancel != nil {
		f.cancel()
	}
	f.wg.Wait()
	f.stores.Close()
}
