package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"intransit/p2s"
)

// DefaultHolderTTL is the TTL of a gateway's etcd lease over its claims:
// the claims of a gateway that died are gone this long after its last
// renewal (clientv3 renews every third of it).
const DefaultHolderTTL = 6 * time.Second

// Timing of the renewal loop.
const (
	holdersRetryMin = 200 * time.Millisecond
	holdersRetryMax = 2 * time.Second
	grantTimeout    = 5 * time.Second
)

// Holders is the p2s.Holders of one gateway on etcd. Keys, under the
// prefix:
//
//	p2s/holders/<client>    the holding gateway's id, bound to its etcd lease
//
// A claim is a put under the gateway's lease; the gateway remembers the
// revision of each of its claims. A watch on the holders reports a put by
// another gateway with a higher revision as lost. When the lease is lost
// (expired while the gateway was cut off), a new one is granted and every
// claim re-asserted by transaction: kept when the key still has the
// revision of our claim, created again when the key is gone, lost when
// another gateway wrote it.
type Holders struct {
	cl     *clientv3.Client
	prefix string
	id     string
	ttl    time.Duration
	log    *slog.Logger
	lost   chan string
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	lease clientv3.LeaseID
	held  map[string]int64 // client -> ModRevision of our claim
	// others are the newest claims of other gateways seen on clients we
	// did not hold, so that one seen before our claim returned still
	// counts against it.
	others map[string]othersClaim
}

// othersClaim is another gateway's claim as seen.
type othersClaim struct {
	rev int64
	by  string
}

var _ p2s.Holders = (*Holders)(nil)

// HolderOptions configure Holders.
type HolderOptions struct {
	// Prefix starts every key, as Options.Prefix.
	Prefix string
	// ID names this gateway among those that share the prefix; it must be
	// unique to this process (a restarted gateway takes a new one).
	ID string
	// TTL is the lease's TTL (DefaultHolderTTL when 0; whole seconds).
	TTL time.Duration
	// Logger receives the changes of claims; nil discards them.
	Logger *slog.Logger
}

// NewHolders starts the claims of one gateway on cl: it renews them and
// watches for claims of other gateways until Close. cl stays the caller's.
func NewHolders(cl *clientv3.Client, o HolderOptions) (*Holders, error) {
	if o.ID == "" || strings.ContainsAny(o.ID, "\n") {
		return nil, errors.New("p2s holders: a gateway id is required")
	}
	if o.TTL == 0 {
		o.TTL = DefaultHolderTTL
	}
	if o.TTL < time.Second {
		return nil, fmt.Errorf("p2s holders: TTL %s is below etcd's 1 s", o.TTL)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Holders{cl: cl, prefix: o.Prefix + "p2s/holders/", id: o.ID, ttl: o.TTL, log: o.Logger,
		lost: make(chan string, 64), held: map[string]int64{}, others: map[string]othersClaim{}}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.wg.Add(2)
	go func() { defer h.wg.Done(); h.renew() }()
	go func() { defer h.wg.Done(); h.watch() }()
	return h, nil
}

func (h *Holders) key(client string) string { return h.prefix + client }

// Lost implements p2s.Holders.
func (h *Holders) Lost() <-chan string { return h.lost }

// currentLease returns the lease claims go under, granting one when there
// is none (not under h.mu: a grant blocks while etcd is out of reach).
func (h *Holders) currentLease(ctx context.Context) (clientv3.LeaseID, error) {
	h.mu.Lock()
	l := h.lease
	h.mu.Unlock()
	if l != 0 {
		return l, nil
	}
	gctx, cancel := context.WithTimeout(ctx, grantTimeout)
	resp, err := h.cl.Grant(gctx, int64(h.ttl/time.Second))
	cancel()
	if err != nil {
		return 0, fmt.Errorf("p2s holders: lease: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lease == 0 {
		h.lease = resp.ID
	}
	// A lease granted meanwhile by another caller wins; ours expires
	// unused.
	return h.lease, nil
}

// dropLease forgets lease l (it expired), so that the next use grants
// another.
func (h *Holders) dropLease(l clientv3.LeaseID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lease == l {
		h.lease = 0
	}
}

// Claim implements p2s.Holders.
func (h *Holders) Claim(ctx context.Context, client string) error {
	for attempt := 0; ; attempt++ {
		l, err := h.currentLease(ctx)
		if err != nil {
			return err
		}
		resp, err := h.cl.Put(ctx, h.key(client), h.id, clientv3.WithLease(l))
		if errors.Is(err, rpctypes.ErrLeaseNotFound) && attempt == 0 {
			h.dropLease(l)
			continue
		}
		if err != nil {
			return fmt.Errorf("p2s holders: claim %s: %w", client, err)
		}
		rev := resp.Header.Revision
		h.mu.Lock()
		h.held[client] = rev
		o, newer := h.others[client]
		delete(h.others, client)
		h.mu.Unlock()
		if newer && o.rev > rev {
			h.lose(client, rev, o.by)
		}
		return nil
	}
}

// Release implements p2s.Holders.
func (h *Holders) Release(ctx context.Context, client string) error {
	h.mu.Lock()
	rev, ok := h.held[client]
	delete(h.held, client)
	h.mu.Unlock()
	if !ok {
		return nil
	}
	k := h.key(client)
	_, err := h.cl.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k), "=", rev)).Then(clientv3.OpDelete(k)).Commit()
	if err != nil {
		return fmt.Errorf("p2s holders: release %s: %w", client, err)
	}
	return nil
}

// Close implements p2s.Holders: the lease is revoked, so every claim goes
// with it.
func (h *Holders) Close() error {
	h.cancel()
	h.wg.Wait()
	h.mu.Lock()
	l := h.lease
	h.lease, h.held = 0, map[string]int64{}
	h.mu.Unlock()
	if l == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := h.cl.Revoke(ctx, l); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("p2s holders: revoke the lease: %w", err)
	}
	return nil
}

// lose reports client lost when the claim at rev is still the one we
// hold.
func (h *Holders) lose(client string, rev int64, by string) {
	h.mu.Lock()
	cur, ok := h.held[client]
	if !ok || cur != rev {
		h.mu.Unlock()
		return
	}
	delete(h.held, client)
	h.mu.Unlock()
	h.log.Warn("p2s client taken by another gateway", "client", client, "gateway", by)
	select {
	case h.lost <- client:
	case <-h.ctx.Done():
	}
}

// sleep waits d or until Close, reporting whether to go on.
func (h *Holders) sleep(d time.Duration) bool {
	t := time.NewTimer(d/2 + rand.N(d/2+1))
	defer t.Stop()
	select {
	case <-h.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// renew keeps the lease alive; when it is lost, it takes a new one and
// re-asserts every claim.
func (h *Holders) renew() {
	var kept clientv3.LeaseID
	wait := holdersRetryMin
	for h.ctx.Err() == nil {
		l, err := h.currentLease(h.ctx)
		if err != nil {
			h.log.Debug("p2s holders: no lease", "error", err.Error())
			if !h.sleep(wait) {
				return
			}
			wait = min(2*wait, holdersRetryMax)
			continue
		}
		if kept != 0 && l != kept {
			if err := h.reassert(l); err != nil {
				h.log.Debug("p2s holders: re-asserting the claims failed", "error", err.Error())
				if !h.sleep(wait) {
					return
				}
				wait = min(2*wait, holdersRetryMax)
				continue
			}
		}
		kept, wait = l, holdersRetryMin
		ch, err := h.cl.KeepAlive(h.ctx, l)
		if err == nil {
			for range ch {
			}
		}
		if h.ctx.Err() != nil {
			return
		}
		// The channel ends when the lease expired or could not be renewed
		// within its TTL: take a new one.
		h.log.Warn("p2s holders: the gateway's lease in etcd was lost; re-asserting its claims", "lease", fmt.Sprintf("%x", int64(l)))
		h.dropLease(l)
	}
}

// reassert moves every claim to lease l, by revision.
func (h *Holders) reassert(l clientv3.LeaseID) error {
	h.mu.Lock()
	claims := make(map[string]int64, len(h.held))
	for c, rev := range h.held {
		claims[c] = rev
	}
	h.mu.Unlock()
	for c, rev := range claims {
		k := h.key(c)
		ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
		resp, err := h.cl.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k), "=", rev)).
			Then(clientv3.OpPut(k, h.id, clientv3.WithLease(l))).
			Else(clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(k), "=", 0)},
				[]clientv3.Op{clientv3.OpPut(k, h.id, clientv3.WithLease(l))}, []clientv3.Op{clientv3.OpGet(k)})).Commit()
		cancel()
		if err != nil {
			return fmt.Errorf("p2s holders: re-assert %s: %w", c, err)
		}
		if resp.Succeeded || resp.Responses[0].GetResponseTxn().Succeeded {
			h.mu.Lock()
			if h.held[c] == rev {
				h.held[c] = resp.Header.Revision
			}
			h.mu.Unlock()
			continue
		}
		by := ""
		if kvs := resp.Responses[0].GetResponseTxn().Responses[0].GetResponseRange().Kvs; len(kvs) == 1 {
			by = string(kvs[0].Value)
		}
		h.lose(c, rev, by)
	}
	return nil
}

// watch follows the claims of every gateway and reports ours that another
// took. After the watch broke (compaction, a long disconnect) it reads
// every claim again and resumes from there.
func (h *Holders) watch() {
	wait := holdersRetryMin
	for h.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
		resp, err := h.cl.Get(ctx, h.prefix, clientv3.WithPrefix())
		cancel()
		if err != nil {
			if !h.sleep(wait) {
				return
			}
			wait = min(2*wait, holdersRetryMax)
			continue
		}
		wait = holdersRetryMin
		for _, kv := range resp.Kvs {
			h.seen(kv)
		}
		wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(h.ctx))
		for wr := range h.cl.Watch(wctx, h.prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1)) {
			if wr.Err() != nil {
				h.log.Debug("p2s holders: watch broke; reading the claims again", "error", wr.Err().Error())
				break
			}
			for _, ev := range wr.Events {
				if ev.Type == mvccpb.PUT {
					h.seen(ev.Kv)
				}
			}
		}
		wcancel()
	}
}

// seen handles a claim read or watched: another gateway's claim newer than
// ours loses ours.
func (h *Holders) seen(kv *mvccpb.KeyValue) {
	if string(kv.Value) == h.id {
		return
	}
	c := strings.TrimPrefix(string(kv.Key), h.prefix)
	h.mu.Lock()
	rev, ok := h.held[c]
	if !ok && kv.ModRevision > h.others[c].rev {
		h.others[c] = othersClaim{rev: kv.ModRevision, by: string(kv.Value)}
	}
	h.mu.Unlock()
	if ok && kv.ModRevision > rev {
		h.lose(c, rev, string(kv.Value))
	}
}
