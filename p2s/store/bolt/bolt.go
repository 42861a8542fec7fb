// Package bolt is the embedded p2s.Store: one bbolt file in the gateway's
// state directory, every write committed and fsync'd before it returns. One
// process holds the file, so its transactions are the atomic steps of the
// contract; idle leases are reclaimed by the gateway's sweep
// (ReclaimLeases), as bbolt has no timers of its own.
package bolt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"

	"intransit/p2s"
)

// FileName is the store's file in the gateway's state directory.
const FileName = "p2s.db"

const formatMarker = "intransit-p2s-store-v1"

var (
	bucketMeta    = []byte("meta")
	bucketClients = []byte("clients")
	bucketTokens  = []byte("tokens")
	bucketLeases  = []byte("leases")
	bucketAddrs   = []byte("addresses") // address -> client, the lease index
	bucketStatic  = []byte("static")
	keyFormat     = []byte("format")
)

// Store is a p2s.Store in one bbolt file. One process at a time may open
// it (a file lock enforces this).
type Store struct {
	db *bbolt.DB
}

var _ p2s.Store = (*Store)(nil)

// Open opens or creates the store at path (mode 0600, its directory 0700
// when created). A file that is not an intransit p2s store is refused and
// left as it is.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("p2s store: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Size() == 0 {
		return nil, fmt.Errorf("p2s store %s is empty (truncated?); refusing to re-initialise it", path)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("p2s store %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			if k, _ := tx.Cursor().First(); k != nil {
				return errors.New("not an intransit p2s store (no format marker)")
			}
			var err error
			if meta, err = tx.CreateBucket(bucketMeta); err != nil {
				return err
			}
			if err := meta.Put(keyFormat, []byte(formatMarker)); err != nil {
				return err
			}
		} else if got := string(meta.Get(keyFormat)); got != formatMarker {
			return fmt.Errorf("not an intransit p2s store (format %q)", got)
		}
		for _, b := range [][]byte{bucketClients, bucketTokens, bucketLeases, bucketAddrs, bucketStatic} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("p2s store %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close releases the file.
func (s *Store) Close() error { return s.db.Close() }

// update runs fn in a write transaction unless ctx has ended.
func (s *Store) update(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(fn)
}

func (s *Store) view(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

func put(b *bbolt.Bucket, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), data)
}

func get(b *bbolt.Bucket, key string, v any) error {
	data := b.Get([]byte(key))
	if data == nil {
		return fmt.Errorf("%q: %w", key, p2s.ErrNotFound)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("record %q is damaged: %w", key, err)
	}
	return nil
}

// PutClient implements p2s.Clients.
func (s *Store) PutClient(ctx context.Context, c p2s.Client) error {
	if c.Name == "" {
		return errors.New("p2s store: client without a name")
	}
	return s.update(ctx, func(tx *bbolt.Tx) error { return put(tx.Bucket(bucketClients), c.Name, c) })
}

// Client implements p2s.Store.
func (s *Store) Client(ctx context.Context, name string) (p2s.Client, error) {
	var c p2s.Client
	err := s.view(ctx, func(tx *bbolt.Tx) error { return get(tx.Bucket(bucketClients), name, &c) })
	if err != nil {
		return p2s.Client{}, fmt.Errorf("client %w", err)
	}
	return c, nil
}

// ListClients implements p2s.Store (bbolt iterates in key order).
func (s *Store) ListClients(ctx context.Context) ([]p2s.Client, error) {
	var out []p2s.Client
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketClients).ForEach(func(k, v []byte) error {
			var c p2s.Client
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("client record %q is damaged: %w", k, err)
			}
			out = append(out, c)
			return nil
		})
	})
	return out, err
}

// DeleteClient implements p2s.Store.
func (s *Store) DeleteClient(ctx context.Context, name string) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketClients)
		if b.Get([]byte(name)) == nil {
			return fmt.Errorf("client %q: %w", name, p2s.ErrNotFound)
		}
		return b.Delete([]byte(name))
	})
}

// PutToken implements p2s.Store.
func (s *Store) PutToken(ctx context.Context, t p2s.Token) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		if b.Get([]byte(t.ID)) != nil {
			return fmt.Errorf("token %s exists already", t.ID)
		}
		return put(b, t.ID, t)
	})
}

// Token implements p2s.Store.
func (s *Store) Token(ctx context.Context, id string) (p2s.Token, error) {
	var t p2s.Token
	err := s.view(ctx, func(tx *bbolt.Tx) error { return get(tx.Bucket(bucketTokens), id, &t) })
	if err != nil {
		return p2s.Token{}, fmt.Errorf("token %w", err)
	}
	return t, nil
}

// RedeemToken implements p2s.Store.
func (s *Store) RedeemToken(ctx context.Context, id string, now time.Time, check func(p2s.Token) error, serial string) (p2s.Token, error) {
	var t p2s.Token
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		if err := get(b, id, &t); err != nil {
			return fmt.Errorf("token %w", err)
		}
		if err := check(t); err != nil {
			return err
		}
		t.Used = now
		if err := put(b, id, t); err != nil {
			return err
		}
		clients := tx.Bucket(bucketClients)
		var c p2s.Client
		if err := get(clients, t.Name, &c); err != nil && !errors.Is(err, p2s.ErrNotFound) {
			return err
		}
		c.Name, c.Group, c.Enrolled = t.Name, t.Group, now
		c.Serials = append(c.Serials, serial)
		return put(clients, t.Name, c)
	})
	if err != nil {
		return p2s.Token{}, err
	}
	return t, nil
}

// Leases implements p2s.Store.
func (s *Store) Leases(ctx context.Context) ([]p2s.Lease, error) {
	var out []p2s.Lease
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketLeases).ForEach(func(k, v []byte) error {
			var l p2s.Lease
			if err := json.Unmarshal(v, &l); err != nil {
				return fmt.Errorf("lease record %q is damaged: %w", k, err)
			}
			out = append(out, l)
			return nil
		})
	})
	return out, err
}

// Lease implements p2s.Leases.
func (s *Store) Lease(ctx context.Context, client string) (p2s.Lease, error) {
	var l p2s.Lease
	err := s.view(ctx, func(tx *bbolt.Tx) error { return get(tx.Bucket(bucketLeases), client, &l) })
	if err != nil {
		return p2s.Lease{}, fmt.Errorf("lease %w", err)
	}
	return l, nil
}

// CreateLease implements p2s.Leases. Concurrent calls share one commit
// (bbolt's Batch), which is what many clients connecting at once for the
// first time need.
func (s *Store) CreateLease(ctx context.Context, l p2s.Lease) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Batch(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketLeases).Get([]byte(l.Client)) != nil {
			return fmt.Errorf("%s: %w", l.Client, p2s.ErrLeaseExists)
		}
		return putLease(tx, l)
	})
}

// PutLease implements p2s.Store. Concurrent calls share one commit
// (bbolt's Batch), which is what many clients connecting at once for the
// first time need.
func (s *Store) PutLease(ctx context.Context, l p2s.Lease) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Batch(func(tx *bbolt.Tx) error { return putLease(tx, l) })
}

// putLease records l, replacing the client's lease, unless another client
// holds one of its addresses.
func putLease(tx *bbolt.Tx, l p2s.Lease) error {
	addrs := tx.Bucket(bucketAddrs)
	for _, a := range l.Addresses {
		if owner := addrs.Get([]byte(a.String())); owner != nil && string(owner) != l.Client {
			return fmt.Errorf("%s: %w (%s)", a, p2s.ErrAddressTaken, owner)
		}
	}
	if err := deleteLease(tx, l.Client); err != nil {
		return err
	}
	for _, a := range l.Addresses {
		if err := addrs.Put([]byte(a.String()), []byte(l.Client)); err != nil {
			return err
		}
	}
	return put(tx.Bucket(bucketLeases), l.Client, l)
}

// ReclaimLeases implements p2s.Leases, in one commit.
func (s *Store) ReclaimLeases(ctx context.Context, idleSince time.Time, keep func(string) bool) ([]string, error) {
	var idle []string
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		idle = idle[:0]
		err := tx.Bucket(bucketLeases).ForEach(func(k, v []byte) error {
			var l p2s.Lease
			if err := json.Unmarshal(v, &l); err != nil {
				return fmt.Errorf("lease record %q is damaged: %w", k, err)
			}
			if l.Updated.Before(idleSince) && !strings.HasPrefix(l.Client, p2s.StaticLeasePrefix) && !keep(l.Client) {
				idle = append(idle, l.Client)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, c := range idle {
			if err := deleteLease(tx, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(idle)
	return idle, nil
}

// DeleteLeases implements p2s.Store.
func (s *Store) DeleteLeases(ctx context.Context, clients ...string) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		for _, c := range clients {
			if err := deleteLease(tx, c); err != nil {
				return err
			}
		}
		return nil
	})
}

// TouchLeases implements p2s.Store. Concurrent calls share one commit
// (bbolt's Batch), as when many clients disconnect at once.
func (s *Store) TouchLeases(ctx context.Context, at time.Time, clients ...string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Batch(func(tx *bbolt.Tx) error {
		leases := tx.Bucket(bucketLeases)
		for _, c := range clients {
			var l p2s.Lease
			if err := get(leases, c, &l); err != nil {
				if errors.Is(err, p2s.ErrNotFound) {
					continue
				}
				return err
			}
			l.Updated = at.UTC()
			if err := put(leases, c, l); err != nil {
				return err
			}
		}
		return nil
	})
}

func deleteLease(tx *bbolt.Tx, client string) error {
	leases := tx.Bucket(bucketLeases)
	var old p2s.Lease
	if err := get(leases, client, &old); err != nil {
		if errors.Is(err, p2s.ErrNotFound) {
			return nil
		}
		return err
	}
	for _, a := range old.Addresses {
		if err := tx.Bucket(bucketAddrs).Delete([]byte(a.String())); err != nil {
			return err
		}
	}
	return leases.Delete([]byte(client))
}

// PutStatic implements p2s.Store.
func (s *Store) PutStatic(ctx context.Context, st p2s.Static) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketStatic)
		if b.Get([]byte(st.Name)) != nil {
			return fmt.Errorf("static device %q exists already", st.Name)
		}
		return put(b, st.Name, st)
	})
}

// Statics implements p2s.Store.
func (s *Store) Statics(ctx context.Context) ([]p2s.Static, error) {
	var out []p2s.Static
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketStatic).ForEach(func(k, v []byte) error {
			var st p2s.Static
			if err := json.Unmarshal(v, &st); err != nil {
				return fmt.Errorf("static record %q is damaged: %w", k, err)
			}
			out = append(out, st)
			return nil
		})
	})
	return out, err
}

// DeleteStatic implements p2s.Store.
func (s *Store) DeleteStatic(ctx context.Context, name string) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketStatic)
		if b.Get([]byte(name)) == nil {
			return fmt.Errorf("static device %q: %w", name, p2s.ErrNotFound)
		}
		return b.Delete([]byte(name))
	})
}
