// Package etcd is the p2s.Store that several gateways share: the records
// live in an etcd cluster under a key prefix, every check-and-change is one
// etcd transaction comparing the revisions it read, and idle address
// leases expire by etcd's own lease timers, so no gateway's clock or memory
// decides.
//
// Keys, under the prefix:
//
//	p2s/clients/<name>      JSON p2s.Client
//	p2s/tokens/<id>         JSON p2s.Token
//	p2s/leases/<client>     JSON p2s.Lease       } both bound to one etcd
//	p2s/addresses/<addr>    the holding client    } lease when idle > 0
//	p2s/statics/<name>      JSON p2s.Static
//	p2s/holders/<client>    the gateway holding the client's session (Holders)
package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"intransit/internal/etcdconn"
	"intransit/p2s"
)

// Options configure a Store.
type Options struct {
	// Prefix starts every key (for example "/intransit/"); stores with the
	// same client and prefix share their records.
	Prefix string
	// LeaseIdle is how long an address lease lives in etcd after it was
	// last granted, acquired or touched; its keys are then removed by etcd
	// (static devices' leases excepted). 0 keeps leases until a sweep
	// (ReclaimLeases) or a delete removes them.
	LeaseIdle time.Duration
}

// Store is a p2s.Store on etcd. It does not own the client: Close leaves
// it open.
type Store struct {
	cl   *clientv3.Client
	opts Options
}

var _ p2s.Store = (*Store)(nil)

// New returns the store on cl.
func New(cl *clientv3.Client, opts Options) *Store {
	return &Store{cl: cl, opts: opts}
}

// Close implements p2s.Store; the client stays open.
func (s *Store) Close() error { return nil }

func (s *Store) key(kind, name string) string { return s.opts.Prefix + "p2s/" + kind + "/" + name }

func (s *Store) kindPrefix(kind string) string { return s.opts.Prefix + "p2s/" + kind + "/" }

func marshal(v any) (string, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("p2s store: encode: %w", err)
	}
	return string(data), nil
}

func unmarshal(key string, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("p2s store: record %q is damaged: %w", key, err)
	}
	return nil
}

// get reads one key: its value and its ModRevision (0 when absent).
func (s *Store) get(ctx context.Context, key string, v any) (int64, error) {
	resp, err := s.cl.Get(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("p2s store: read %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return 0, nil
	}
	return resp.Kvs[0].ModRevision, unmarshal(key, resp.Kvs[0].Value, v)
}

// list reads every record of a kind.
func list[T any](ctx context.Context, s *Store, kind string) ([]T, error) {
	resp, err := s.cl.Get(ctx, s.kindPrefix(kind), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("p2s store: read %s: %w", kind, err)
	}
	out := make([]T, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var v T
		if err := unmarshal(string(kv.Key), kv.Value, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// create puts v at key unless the key exists.
func (s *Store) create(ctx context.Context, key string, v any) (bool, error) {
	val, err := marshal(v)
	if err != nil {
		return false, err
	}
	resp, err := s.cl.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).Then(clientv3.OpPut(key, val)).Commit()
	if err != nil {
		return false, fmt.Errorf("p2s store: write %s: %w", key, err)
	}
	return resp.Succeeded, nil
}

// remove deletes key, reporting whether it existed.
func (s *Store) remove(ctx context.Context, key string) (bool, error) {
	resp, err := s.cl.Delete(ctx, key)
	if err != nil {
		return false, fmt.Errorf("p2s store: delete %s: %w", key, err)
	}
	return resp.Deleted > 0, nil
}

// PutClient implements p2s.Clients.
func (s *Store) PutClient(ctx context.Context, c p2s.Client) error {
	if c.Name == "" {
		return errors.New("p2s store: client without a name")
	}
	val, err := marshal(c)
	if err != nil {
		return err
	}
	if _, err := s.cl.Put(ctx, s.key("clients", c.Name), val); err != nil {
		return fmt.Errorf("p2s store: write client %q: %w", c.Name, err)
	}
	return nil
}

// Client implements p2s.Clients.
func (s *Store) Client(ctx context.Context, name string) (p2s.Client, error) {
	var c p2s.Client
	rev, err := s.get(ctx, s.key("clients", name), &c)
	if err != nil {
		return p2s.Client{}, err
	}
	if rev == 0 {
		return p2s.Client{}, fmt.Errorf("client %q: %w", name, p2s.ErrNotFound)
	}
	return c, nil
}

// ListClients implements p2s.Clients (etcd returns a range in key order).
func (s *Store) ListClients(ctx context.Context) ([]p2s.Client, error) {
	return list[p2s.Client](ctx, s, "clients")
}

// DeleteClient implements p2s.Clients.
func (s *Store) DeleteClient(ctx context.Context, name string) error {
	ok, err := s.remove(ctx, s.key("clients", name))
	if err == nil && !ok {
		err = fmt.Errorf("client %q: %w", name, p2s.ErrNotFound)
	}
	return err
}

// PutToken implements p2s.Tokens.
func (s *Store) PutToken(ctx context.Context, t p2s.Token) error {
	ok, err := s.create(ctx, s.key("tokens", t.ID), t)
	if err == nil && !ok {
		err = fmt.Errorf("token %s exists already", t.ID)
	}
	return err
}

// Token implements p2s.Tokens.
func (s *Store) Token(ctx context.Context, id string) (p2s.Token, error) {
	var t p2s.Token
	rev, err := s.get(ctx, s.key("tokens", id), &t)
	if err != nil {
		return p2s.Token{}, err
	}
	if rev == 0 {
		return p2s.Token{}, fmt.Errorf("token %q: %w", id, p2s.ErrNotFound)
	}
	return t, nil
}

// RedeemToken implements p2s.Tokens: the token and the client record are
// read in one snapshot and written in one transaction that holds only if
// neither changed since; a caller that loses the race reads again, and
// check then sees the token used.
func (s *Store) RedeemToken(ctx context.Context, id string, now time.Time, check func(p2s.Token) error, serial string) (p2s.Token, error) {
	tk := s.key("tokens", id)
	for {
		snap, err := s.cl.Txn(ctx).Then(clientv3.OpGet(tk)).Commit()
		if err != nil {
			return p2s.Token{}, fmt.Errorf("p2s store: read token %q: %w", id, err)
		}
		kvs := snap.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 {
			return p2s.Token{}, fmt.Errorf("token %q: %w", id, p2s.ErrNotFound)
		}
		var t p2s.Token
		if err := unmarshal(tk, kvs[0].Value, &t); err != nil {
			return p2s.Token{}, err
		}
		if err := check(t); err != nil {
			return p2s.Token{}, err
		}
		ck := s.key("clients", t.Name)
		var c p2s.Client
		crev, err := s.get(ctx, ck, &c)
		if err != nil {
			return p2s.Token{}, err
		}
		t.Used = now
		c.Name, c.Group, c.Enrolled = t.Name, t.Group, now
		c.Serials = append(c.Serials, serial)
		tval, err := marshal(t)
		if err != nil {
			return p2s.Token{}, err
		}
		cval, err := marshal(c)
		if err != nil {
			return p2s.Token{}, err
		}
		resp, err := s.cl.Txn(ctx).If(
			clientv3.Compare(clientv3.ModRevision(tk), "=", kvs[0].ModRevision),
			clientv3.Compare(clientv3.ModRevision(ck), "=", crev),
		).Then(clientv3.OpPut(tk, tval), clientv3.OpPut(ck, cval)).Commit()
		if err != nil {
			if etcdconn.Applied(ctx, s.cl, tk, tval) {
				return t, nil
			}
			return p2s.Token{}, fmt.Errorf("p2s store: redeem token %q: %w", id, err)
		}
		if resp.Succeeded {
			return t, nil
		}
	}
}

// PutStatic implements p2s.Statics.
func (s *Store) PutStatic(ctx context.Context, st p2s.Static) error {
	ok, err := s.create(ctx, s.key("statics", st.Name), st)
	if err == nil && !ok {
		err = fmt.Errorf("static device %q exists already", st.Name)
	}
	return err
}

// Statics implements p2s.Statics.
func (s *Store) Statics(ctx context.Context) ([]p2s.Static, error) {
	return list[p2s.Static](ctx, s, "statics")
}

// DeleteStatic implements p2s.Statics.
func (s *Store) DeleteStatic(ctx context.Context, name string) error {
	ok, err := s.remove(ctx, s.key("statics", name))
	if err == nil && !ok {
		err = fmt.Errorf("static device %q: %w", name, p2s.ErrNotFound)
	}
	return err
}

// Lease implements p2s.Leases.
func (s *Store) Lease(ctx context.Context, client string) (p2s.Lease, error) {
	var l p2s.Lease
	rev, err := s.get(ctx, s.key("leases", client), &l)
	if err != nil {
		return p2s.Lease{}, err
	}
	if rev == 0 {
		return p2s.Lease{}, fmt.Errorf("lease of %q: %w", client, p2s.ErrNotFound)
	}
	return l, nil
}

// Leases implements p2s.Leases.
func (s *Store) Leases(ctx context.Context) ([]p2s.Lease, error) {
	return list[p2s.Lease](ctx, s, "leases")
}

// timed reports whether a client's lease expires by itself.
func (s *Store) timed(client string) bool {
	return s.opts.LeaseIdle > 0 && !strings.HasPrefix(client, p2s.StaticLeasePrefix)
}

// grant returns an etcd lease of the idle time for client's keys, or
// clientv3.NoLease when they do not expire.
func (s *Store) grant(ctx context.Context, client string) (clientv3.LeaseID, error) {
	if !s.timed(client) {
		return clientv3.NoLease, nil
	}
	ttl := int64(math.Ceil(s.opts.LeaseIdle.Seconds()))
	g, err := s.cl.Grant(ctx, ttl)
	if err != nil {
		return 0, fmt.Errorf("p2s store: grant a %ds etcd lease: %w", ttl, err)
	}
	return g.ID, nil
}

// revoke drops an etcd lease that no key needs any more. It is best
// effort: an etcd lease left behind expires by itself.
func (s *Store) revoke(ctx context.Context, id clientv3.LeaseID) {
	if id != clientv3.NoLease {
		_, _ = s.cl.Revoke(ctx, id)
	}
}

// leaseOps are the puts of a lease and its address index.
func (s *Store) leaseOps(l p2s.Lease, id clientv3.LeaseID) ([]clientv3.Op, error) {
	val, err := marshal(l)
	if err != nil {
		return nil, err
	}
	ops := []clientv3.Op{clientv3.OpPut(s.key("leases", l.Client), val, clientv3.WithLease(id))}
	for _, a := range l.Addresses {
		ops = append(ops, clientv3.OpPut(s.key("addresses", a.String()), l.Client, clientv3.WithLease(id)))
	}
	return ops, nil
}

// CreateLease implements p2s.Leases in one transaction: the client's lease
// key and every address key must not exist.
func (s *Store) CreateLease(ctx context.Context, l p2s.Lease) error {
	l.Updated = l.Updated.UTC()
	id, err := s.grant(ctx, l.Client)
	if err != nil {
		return err
	}
	ops, err := s.leaseOps(l, id)
	if err != nil {
		s.revoke(ctx, id)
		return err
	}
	lk := s.key("leases", l.Client)
	conds := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(lk), "=", 0)}
	elses := []clientv3.Op{clientv3.OpGet(lk)}
	for _, a := range l.Addresses {
		ak := s.key("addresses", a.String())
		conds = append(conds, clientv3.Compare(clientv3.CreateRevision(ak), "=", 0))
		elses = append(elses, clientv3.OpGet(ak))
	}
	resp, err := s.cl.Txn(ctx).If(conds...).Then(ops...).Else(elses...).Commit()
	if err != nil {
		if val, merr := marshal(l); merr == nil && etcdconn.Applied(ctx, s.cl, lk, val) {
			return nil
		}
		s.revoke(ctx, id)
		return fmt.Errorf("p2s store: lease for %q: %w", l.Client, err)
	}
	if resp.Succeeded {
		return nil
	}
	s.revoke(ctx, id)
	if len(resp.Responses[0].GetResponseRange().Kvs) > 0 {
		return fmt.Errorf("%s: %w", l.Client, p2s.ErrLeaseExists)
	}
	for i, r := range resp.Responses[1:] {
		if kvs := r.GetResponseRange().Kvs; len(kvs) > 0 {
			return fmt.Errorf("%s: %w (%s)", l.Addresses[i], p2s.ErrAddressTaken, kvs[0].Value)
		}
	}
	return fmt.Errorf("%s: %w", l.Client, p2s.ErrLeaseExists)
}

// PutLease implements p2s.Leases: it reads the client's lease and the new
// addresses' owners, and writes in one transaction that holds only if none
// of them changed meanwhile (else it reads again).
func (s *Store) PutLease(ctx context.Context, l p2s.Lease) error {
	l.Updated = l.Updated.UTC()
	lk := s.key("leases", l.Client)
	for {
		reads := []clientv3.Op{clientv3.OpGet(lk)}
		for _, a := range l.Addresses {
			reads = append(reads, clientv3.OpGet(s.key("addresses", a.String())))
		}
		snap, err := s.cl.Txn(ctx).Then(reads...).Commit()
		if err != nil {
			return fmt.Errorf("p2s store: read the lease of %q: %w", l.Client, err)
		}
		var old p2s.Lease
		var oldRev int64
		var oldID clientv3.LeaseID
		if kvs := snap.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			if err := unmarshal(lk, kvs[0].Value, &old); err != nil {
				return err
			}
			oldRev, oldID = kvs[0].ModRevision, clientv3.LeaseID(kvs[0].Lease)
		}
		conds := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(lk), "=", oldRev)}
		for i, a := range l.Addresses {
			ak := s.key("addresses", a.String())
			var rev int64
			if kvs := snap.Responses[i+1].GetResponseRange().Kvs; len(kvs) > 0 {
				if string(kvs[0].Value) != l.Client {
					return fmt.Errorf("%s: %w (%s)", a, p2s.ErrAddressTaken, kvs[0].Value)
				}
				rev = kvs[0].ModRevision
			}
			conds = append(conds, clientv3.Compare(clientv3.ModRevision(ak), "=", rev))
		}
		id, err := s.grant(ctx, l.Client)
		if err != nil {
			return err
		}
		ops, err := s.leaseOps(l, id)
		if err != nil {
			s.revoke(ctx, id)
			return err
		}
		for _, a := range old.Addresses {
			if !slices.Contains(l.Addresses, a) {
				ops = append(ops, clientv3.OpDelete(s.key("addresses", a.String())))
			}
		}
		resp, err := s.cl.Txn(ctx).If(conds...).Then(ops...).Commit()
		if err != nil {
			s.revoke(ctx, id)
			return fmt.Errorf("p2s store: lease for %q: %w", l.Client, err)
		}
		if resp.Succeeded {
			s.revoke(ctx, oldID)
			return nil
		}
		s.revoke(ctx, id)
	}
}

// leaseRead is a stored lease with what a transaction compares.
type leaseRead struct {
	l   p2s.Lease
	rev int64
	id  clientv3.LeaseID
}

// readLeases reads the clients' leases in one snapshot; clients without a
// lease are left out.
func (s *Store) readLeases(ctx context.Context, clients []string) ([]leaseRead, error) {
	ops := make([]clientv3.Op, len(clients))
	for i, c := range clients {
		ops[i] = clientv3.OpGet(s.key("leases", c))
	}
	snap, err := s.cl.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return nil, fmt.Errorf("p2s store: read leases: %w", err)
	}
	var out []leaseRead
	for _, r := range snap.Responses {
		for _, kv := range r.GetResponseRange().Kvs {
			var l p2s.Lease
			if err := unmarshal(string(kv.Key), kv.Value, &l); err != nil {
				return nil, err
			}
			out = append(out, leaseRead{l: l, rev: kv.ModRevision, id: clientv3.LeaseID(kv.Lease)})
		}
	}
	return out, nil
}

// deleteOps are the deletes of a lease and its address index, with the
// comparison that it is unchanged.
func (s *Store) deleteOps(r leaseRead) (clientv3.Cmp, []clientv3.Op) {
	lk := s.key("leases", r.l.Client)
	ops := []clientv3.Op{clientv3.OpDelete(lk)}
	for _, a := range r.l.Addresses {
		ops = append(ops, clientv3.OpDelete(s.key("addresses", a.String())))
	}
	return clientv3.Compare(clientv3.ModRevision(lk), "=", r.rev), ops
}

// DeleteLeases implements p2s.Leases in one transaction.
func (s *Store) DeleteLeases(ctx context.Context, clients ...string) error {
	clients = dedupe(clients)
	for {
		reads, err := s.readLeases(ctx, clients)
		if err != nil || len(reads) == 0 {
			return err
		}
		var conds []clientv3.Cmp
		var ops []clientv3.Op
		for _, r := range reads {
			c, o := s.deleteOps(r)
			conds, ops = append(conds, c), append(ops, o...)
		}
		resp, err := s.cl.Txn(ctx).If(conds...).Then(ops...).Commit()
		if err != nil {
			return fmt.Errorf("p2s store: delete leases: %w", err)
		}
		if resp.Succeeded {
			for _, r := range reads {
				s.revoke(ctx, r.id)
			}
			return nil
		}
	}
}

// TouchLeases implements p2s.Leases: one transaction rewrites the leases'
// Updated time (keeping their etcd leases), then their etcd leases are
// renewed.
func (s *Store) TouchLeases(ctx context.Context, at time.Time, clients ...string) error {
	at = at.UTC()
	clients = dedupe(clients)
	for {
		reads, err := s.readLeases(ctx, clients)
		if err != nil || len(reads) == 0 {
			return err
		}
		var conds []clientv3.Cmp
		var ops []clientv3.Op
		for _, r := range reads {
			lk := s.key("leases", r.l.Client)
			r.l.Updated = at
			val, err := marshal(r.l)
			if err != nil {
				return err
			}
			conds = append(conds, clientv3.Compare(clientv3.ModRevision(lk), "=", r.rev))
			ops = append(ops, clientv3.OpPut(lk, val, clientv3.WithIgnoreLease()))
		}
		resp, err := s.cl.Txn(ctx).If(conds...).Then(ops...).Commit()
		if err != nil {
			return fmt.Errorf("p2s store: touch leases: %w", err)
		}
		if !resp.Succeeded {
			continue
		}
		for _, r := range reads {
			if r.id == clientv3.NoLease {
				continue
			}
			// An etcd lease that expired since the transaction took its
			// keys with it: the client has no lease any more, as if
			// reclaimed just before the touch.
			if _, err := s.cl.KeepAliveOnce(ctx, r.id); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
				return fmt.Errorf("p2s store: renew the lease of %q: %w", r.l.Client, err)
			}
		}
		return nil
	}
}

// ReclaimLeases implements p2s.Leases: each idle lease is removed by a
// transaction that holds only if it is unchanged since it was read.
func (s *Store) ReclaimLeases(ctx context.Context, idleSince time.Time, keep func(string) bool) ([]string, error) {
	resp, err := s.cl.Get(ctx, s.kindPrefix("leases"), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("p2s store: read leases: %w", err)
	}
	var freed []string
	for _, kv := range resp.Kvs {
		var l p2s.Lease
		if err := unmarshal(string(kv.Key), kv.Value, &l); err != nil {
			return freed, err
		}
		if !l.Updated.Before(idleSince) || strings.HasPrefix(l.Client, p2s.StaticLeasePrefix) || keep(l.Client) {
			continue
		}
		r := leaseRead{l: l, rev: kv.ModRevision, id: clientv3.LeaseID(kv.Lease)}
		cond, ops := s.deleteOps(r)
		tr, err := s.cl.Txn(ctx).If(cond).Then(ops...).Commit()
		if err != nil {
			return freed, fmt.Errorf("p2s store: reclaim the lease of %q: %w", l.Client, err)
		}
		if tr.Succeeded {
			s.revoke(ctx, r.id)
			freed = append(freed, l.Client)
		}
	}
	slices.Sort(freed)
	return freed, nil
}

func dedupe(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
