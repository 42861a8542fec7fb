// Package crlleader elects, among the gateways that share one etcd store
// and hold the CA, the one that signs the CRL and publishes it for third
// parties (an etcd election: concurrency.Election on a session lease).
// The others sign and publish nothing: they follow the revocation feed. A
// leader cut off from etcd loses its lease after the session TTL and stops;
// another takes over.
package crlleader

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"intransit/pki/store"
)

// Signer returns the current CRL, signing a new one when a revocation
// happened since the last or half its validity passed (*pki.CA).
type Signer interface {
	CurrentCRL(ctx context.Context) (*store.CRL, error)
}

// Publisher makes a CRL available to third parties (admin.Publisher: files
// the gateway's readers re-read), returning where it wrote.
type Publisher interface {
	PublishCRL(ctx context.Context, crl *store.CRL) ([]string, error)
}

// Defaults of Leader.
const (
	// DefaultTTL is the session lease: a leader that stops answering
	// loses the election after it.
	DefaultTTL = 5 * time.Second
	// DefaultEvery is how often the leader checks whether the CRL needs
	// re-signing.
	DefaultEvery = time.Hour
)

// Config describes a candidate.
type Config struct {
	// Client is the etcd connection; Key the election's key prefix;
	// Name what this candidate is called (logs).
	Client *clientv3.Client
	Key    string
	Name   string
	Signer Signer
	Pub    Publisher
	// TTL and Every default to DefaultTTL and DefaultEvery.
	TTL, Every time.Duration
	Logger     *slog.Logger
}

// Leader runs for the election and, while elected, signs and publishes
// the CRL at once, after every Kick and every Every.
type Leader struct {
	Config
	kick    chan struct{}
	leading atomic.Bool
	last    uint64
}

// New returns a candidate; Run starts it.
func New(c Config) *Leader {
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.Every == 0 {
		c.Every = DefaultEvery
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return &Leader{Config: c, kick: make(chan struct{}, 1)}
}

// Kick asks the leader, if this candidate leads, to sign and publish now
// (a revocation arrived). It never blocks.
func (l *Leader) Kick() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// Leading reports whether this candidate publishes the CRL now.
func (l *Leader) Leading() bool { return l.leading.Load() }

// Elected returns the name of the candidate elected now and whether it is
// this one (self is Leading: while this candidate leads, name is its own
// and etcd is not read). Otherwise it reads the election from etcd once:
// name is the elected candidate's Name, or "" while none is (no candidate
// has won yet, or the leader's lease ran out). It fails when etcd does not
// answer before ctx ends; it neither campaigns nor changes the election.
func (l *Leader) Elected(ctx context.Context) (name string, self bool, err error) {
	if l.Leading() {
		return l.Name, true, nil
	}
	// concurrency.Election keeps its candidates under Key/, the one
	// created first leading.
	resp, err := l.Client.Get(ctx, l.Key+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", false, fmt.Errorf("CRL publisher election %s: %w", l.Key, err)
	}
	if len(resp.Kvs) == 0 {
		return "", false, nil
	}
	return string(resp.Kvs[0].Value), false, nil
}

// Run campaigns, leads while elected, and campaigns again after losing,
// until ctx ends.
func (l *Leader) Run(ctx context.Context) {
	retry := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := l.term(ctx)
		if ctx.Err() != nil {
			return
		}
		l.Logger.Warn("CRL publisher election: campaigning again", "error", err.Error())
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
		retry = min(2*retry, 2*time.Second)
	}
}

// term is one session: campaign, then lead until the session or ctx ends.
func (l *Leader) term(ctx context.Context) error {
	sess, err := concurrency.NewSession(l.Client, concurrency.WithTTL(int(l.TTL/time.Second)), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	defer sess.Close()
	el := concurrency.NewElection(sess, l.Key)
	if err := el.Campaign(ctx, l.Name); err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	l.leading.Store(true)
	l.Logger.Info("elected to sign and publish the CRL", "candidate", l.Name)
	defer func() {
		l.leading.Store(false)
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = el.Resign(rctx)
		cancel()
	}()
	t := time.NewTicker(l.Every)
	defer t.Stop()
	for {
		l.publish(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sess.Done():
			l.Logger.Warn("CRL publisher: the election lease was lost (etcd unreachable?); no longer publishing", "candidate", l.Name)
			return fmt.Errorf("session lease lost")
		case <-l.kick:
		case <-t.C:
		}
	}
}

// publish signs the CRL when it is due and publishes it when new.
func (l *Leader) publish(ctx context.Context) {
	c, err := l.Signer.CurrentCRL(ctx)
	if err != nil {
		l.Logger.Error("CRL could not be signed", "error", err.Error())
		return
	}
	if c.Number == l.last {
		return
	}
	files, err := l.Pub.PublishCRL(ctx, c)
	if err != nil {
		l.Logger.Error("CRL not published", "number", c.Number, "error", err.Error())
		return
	}
	l.last = c.Number
	l.Logger.Info("CRL published", "number", c.Number, "revision", c.Revision, "next_update", c.NextUpdate, "files", fmt.Sprint(files))
}
