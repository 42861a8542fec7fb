// Package etcd is the PKI's store.Store on an etcd cluster that several
// hosts share. Serial uniqueness and the revision order of revocations hold
// across hosts because each check-and-change is one etcd transaction that
// compares the revisions it read; the revocation feed is also an etcd watch
// (WatchRevocations) that resumes after disconnects and compactions.
//
// Keys, under the prefix:
//
//	pki/certs/<serial hex>          JSON store.Certificate
//	pki/revocations/<revision>      JSON store.Revocation (20 digits, so
//	                                that key order is revision order)
//	pki/meta/revision               the last revision (decimal)
//	pki/meta/crl_number             the last CRL number reserved (decimal)
//	pki/meta/crl                    JSON store.CRL
package etcd

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"intransit/internal/etcdconn"
	"intransit/pki/store"
)

// Store is a store.Store on etcd. It does not own the client: Close leaves
// it open.
type Store struct {
	cl     *clientv3.Client
	prefix string
}

var (
	_ store.Store             = (*Store)(nil)
	_ store.RevocationWatcher = (*Store)(nil)
)

// New returns the store on cl under prefix (for example "/intransit/");
// stores with the same cluster and prefix share their records.
func New(cl *clientv3.Client, prefix string) *Store {
	return &Store{cl: cl, prefix: prefix + "pki/"}
}

// Close implements store.Store; the client stays open.
func (s *Store) Close() error { return nil }

func (s *Store) certKey(serial *big.Int) (string, error) {
	if serial == nil || serial.Sign() <= 0 {
		return "", fmt.Errorf("serial number must be positive")
	}
	return s.prefix + "certs/" + serial.Text(16), nil
}

func (s *Store) revKey(rev uint64) string { return fmt.Sprintf("%srevocations/%020d", s.prefix, rev) }

func (s *Store) revPrefix() string { return s.prefix + "revocations/" }

func (s *Store) meta(name string) string { return s.prefix + "meta/" + name }

func (s *Store) decodeCert(key string, v []byte) (*store.Certificate, error) {
	var c store.Certificate
	if err := json.Unmarshal(v, &c); err != nil {
		return nil, fmt.Errorf("PKI store: record %s is damaged: %w", key, err)
	}
	serial, ok := new(big.Int).SetString(key[len(s.prefix+"certs/"):], 16)
	if !ok {
		return nil, fmt.Errorf("PKI store: record key %s is damaged", key)
	}
	c.Serial = serial
	return &c, nil
}

// counter reads a decimal counter and its ModRevision (0 when absent).
func counter(kvs []*mvccpb.KeyValue, name string) (uint64, int64, error) {
	if len(kvs) == 0 {
		return 0, 0, nil
	}
	n, err := strconv.ParseUint(string(kvs[0].Value), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("PKI store: %s is damaged: %w", name, err)
	}
	return n, kvs[0].ModRevision, nil
}

// PutCertificate implements store.Store.
func (s *Store) PutCertificate(ctx context.Context, rec *store.Certificate) error {
	k, err := s.certKey(rec.Serial)
	if err != nil {
		return err
	}
	v, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode certificate record: %w", err)
	}
	resp, err := s.cl.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).Then(clientv3.OpPut(k, string(v))).Commit()
	if err != nil {
		if etcdconn.Applied(ctx, s.cl, k, string(v)) {
			return nil
		}
		return fmt.Errorf("record certificate: %w", err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("record certificate: serial %s: %w", rec.Serial.Text(16), store.ErrSerialExists)
	}
	return nil
}

// Certificate implements store.Store.
func (s *Store) Certificate(ctx context.Context, serial *big.Int) (*store.Certificate, error) {
	k, err := s.certKey(serial)
	if err != nil {
		return nil, err
	}
	resp, err := s.cl.Get(ctx, k)
	if err != nil {
		return nil, fmt.Errorf("PKI store: read %s: %w", k, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("certificate with serial %s: %w", serial.Text(16), store.ErrNotFound)
	}
	return s.decodeCert(k, resp.Kvs[0].Value)
}

// Certificates implements store.Store.
func (s *Store) Certificates(ctx context.Context, f store.Filter) ([]*store.Certificate, error) {
	if f.Now.IsZero() {
		f.Now = time.Now()
	}
	resp, err := s.cl.Get(ctx, s.prefix+"certs/", clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("PKI store: read certificates: %w", err)
	}
	var out []*store.Certificate
	for _, kv := range resp.Kvs {
		c, err := s.decodeCert(string(kv.Key), kv.Value)
		if err != nil {
			return nil, err
		}
		if f.Match(c) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *store.Certificate) int {
		if c := a.IssuedAt.Compare(b.IssuedAt); c != 0 {
			return c
		}
		return a.Serial.Cmp(b.Serial)
	})
	return out, nil
}

// Revoke implements store.Store: the record and the revision counter are
// read together and written, with the feed entry, by one transaction that
// holds only if neither changed meanwhile; a loser reads again.
func (s *Store) Revoke(ctx context.Context, serial *big.Int, at time.Time, reason store.Reason) (*store.Certificate, error) {
	k, err := s.certKey(serial)
	if err != nil {
		return nil, err
	}
	revName := s.meta("revision")
	for {
		snap, err := s.cl.Txn(ctx).Then(clientv3.OpGet(k), clientv3.OpGet(revName)).Commit()
		if err != nil {
			return nil, fmt.Errorf("revoke: %w", err)
		}
		certKVs := snap.Responses[0].GetResponseRange().Kvs
		if len(certKVs) == 0 {
			return nil, fmt.Errorf("revoke: certificate with serial %s: %w", serial.Text(16), store.ErrNotFound)
		}
		c, err := s.decodeCert(k, certKVs[0].Value)
		if err != nil {
			return nil, err
		}
		if c.Status == store.StatusRevoked {
			return nil, fmt.Errorf("revoke: serial %s (revoked %s): %w", serial.Text(16), c.RevokedAt.Format(time.RFC3339), store.ErrAlreadyRevoked)
		}
		rev, revMod, err := counter(snap.Responses[1].GetResponseRange().Kvs, "revision")
		if err != nil {
			return nil, err
		}
		rev++
		t := at.UTC()
		c.Status, c.RevokedAt, c.Reason, c.Revision = store.StatusRevoked, &t, reason, rev
		cv, err := json.Marshal(c)
		if err != nil {
			return nil, fmt.Errorf("encode certificate record: %w", err)
		}
		ev, err := json.Marshal(store.Revocation{Revision: rev, Serial: c.Serial, At: t, Reason: reason, NotAfter: c.NotAfter})
		if err != nil {
			return nil, fmt.Errorf("encode revocation: %w", err)
		}
		resp, err := s.cl.Txn(ctx).If(
			clientv3.Compare(clientv3.ModRevision(k), "=", certKVs[0].ModRevision),
			clientv3.Compare(clientv3.ModRevision(revName), "=", revMod),
		).Then(
			clientv3.OpPut(k, string(cv)),
			clientv3.OpPut(s.revKey(rev), string(ev)),
			clientv3.OpPut(revName, strconv.FormatUint(rev, 10)),
		).Commit()
		if err != nil {
			if etcdconn.Applied(ctx, s.cl, k, string(cv)) {
				return c, nil
			}
			return nil, fmt.Errorf("revoke: %w", err)
		}
		if resp.Succeeded {
			return c, nil
		}
	}
}

// RevocationsSince implements store.Store, from one snapshot.
func (s *Store) RevocationsSince(ctx context.Context, after uint64) ([]store.Revocation, uint64, error) {
	revs, cur, _, err := s.since(ctx, after)
	return revs, cur, err
}

// since reads the revocations above after, the current revision and the
// etcd revision of the snapshot.
func (s *Store) since(ctx context.Context, after uint64) ([]store.Revocation, uint64, int64, error) {
	snap, err := s.cl.Txn(ctx).Then(
		clientv3.OpGet(s.meta("revision")),
		clientv3.OpGet(s.revKey(after+1), clientv3.WithRange(clientv3.GetPrefixRangeEnd(s.revPrefix()))),
	).Commit()
	if err != nil {
		return nil, 0, 0, fmt.Errorf("PKI store: read revocations: %w", err)
	}
	cur, _, err := counter(snap.Responses[0].GetResponseRange().Kvs, "revision")
	if err != nil {
		return nil, 0, 0, err
	}
	var out []store.Revocation
	for _, kv := range snap.Responses[1].GetResponseRange().Kvs {
		r, err := decodeRevocation(string(kv.Key), kv.Value)
		if err != nil {
			return nil, 0, 0, err
		}
		out = append(out, r)
	}
	return out, cur, snap.Header.Revision, nil
}

func decodeRevocation(key string, v []byte) (store.Revocation, error) {
	var r store.Revocation
	if err := json.Unmarshal(v, &r); err != nil || r.Serial == nil {
		return store.Revocation{}, fmt.Errorf("PKI store: revocation entry %s is damaged: %v", key, err)
	}
	return r, nil
}

// update applies fn to a counter or record by compare-and-swap until it
// holds; fn sees the current value (nil when absent) and returns the new
// one.
func (s *Store) update(ctx context.Context, key string, fn func(cur []byte) (string, error)) error {
	for {
		resp, err := s.cl.Get(ctx, key)
		if err != nil {
			return err
		}
		var cur []byte
		var mod int64
		if len(resp.Kvs) > 0 {
			cur, mod = resp.Kvs[0].Value, resp.Kvs[0].ModRevision
		}
		next, err := fn(cur)
		if err != nil {
			return err
		}
		tr, err := s.cl.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", mod)).Then(clientv3.OpPut(key, next)).Commit()
		if err != nil {
			return err
		}
		if tr.Succeeded {
			return nil
		}
	}
}

// NextCRLNumber implements store.Store.
func (s *Store) NextCRLNumber(ctx context.Context) (uint64, error) {
	var n uint64
	err := s.update(ctx, s.meta("crl_number"), func(cur []byte) (string, error) {
		n = 0
		if cur != nil {
			v, err := strconv.ParseUint(string(cur), 10, 64)
			if err != nil {
				return "", fmt.Errorf("PKI store: crl_number is damaged: %w", err)
			}
			n = v
		}
		n++
		return strconv.FormatUint(n, 10), nil
	})
	if err != nil {
		return 0, fmt.Errorf("reserve CRL number: %w", err)
	}
	return n, nil
}

// PutCRL implements store.Store.
func (s *Store) PutCRL(ctx context.Context, c *store.CRL) error {
	v, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode CRL: %w", err)
	}
	err = s.update(ctx, s.meta("crl"), func(cur []byte) (string, error) {
		if cur != nil {
			var prev store.CRL
			if err := json.Unmarshal(cur, &prev); err != nil {
				return "", fmt.Errorf("PKI store: stored CRL is damaged: %w", err)
			}
			if prev.Number >= c.Number {
				return "", fmt.Errorf("CRL number %d, stored %d: %w", c.Number, prev.Number, store.ErrStaleCRL)
			}
		}
		return string(v), nil
	})
	if err != nil {
		return fmt.Errorf("store CRL: %w", err)
	}
	return nil
}

// CurrentCRL implements store.Store.
func (s *Store) CurrentCRL(ctx context.Context) (*store.CRL, error) {
	resp, err := s.cl.Get(ctx, s.meta("crl"))
	if err != nil {
		return nil, fmt.Errorf("PKI store: read CRL: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("CRL: %w", store.ErrNotFound)
	}
	var out store.CRL
	if err := json.Unmarshal(resp.Kvs[0].Value, &out); err != nil {
		return nil, fmt.Errorf("PKI store: stored CRL is damaged: %w", err)
	}
	return &out, nil
}
