// Package bolt is the embedded Store backend: one bbolt file, every commit
// fsync'd, concurrent writers grouped into shared commits.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"intransit/pki/store"
)

const formatMarker = "intransit-pki-store-v1"

// Buckets and meta keys of the file.
const (
	bucketCerts       = "certs"
	bucketRevocations = "revocations"
	bucketMeta        = "meta"
	keyFormat         = "format"
	keyRevision       = "revision"
	keyCRLNumber      = "crl_number"
	keyCRL            = "crl"
)

// Options tune Open.
type Options struct {
	// Create makes a new store when the file does not exist. Without it a
	// missing file is an error.
	Create bool
	// LockTimeout bounds the wait for another process holding the file;
	// zero means 2 seconds.
	LockTimeout time.Duration
}

// Store is a store.Store in one bbolt file. One process at a time may open
// it (a file lock enforces this); within it, all methods are safe for
// concurrent use.
type Store struct {
	db   *bbolt.DB
	path string
	// writes feeds the committer goroutine; closed by Close.
	writes chan *write
	// committed is closed when the committer has stopped.
	committed chan struct{}
	closeOnce sync.Once
	closeErr  error
	// revoked wakes WatchRevocations.
	revoked revoked
}

var _ store.Store = (*Store)(nil)

// Open opens the store at path. A file that is empty, truncated or not an
// intransit store gives an error naming the file; it is never modified or
// re-initialised.
func Open(path string, opts Options) (*Store, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && !opts.Create:
		return nil, fmt.Errorf("PKI store %s does not exist", path)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("PKI store %s: %w", path, err)
	case err == nil && fi.Size() == 0:
		return nil, fmt.Errorf("PKI store %s is empty (truncated?); refusing to re-initialise it", path)
	}
	fresh := err != nil
	timeout := opts.LockTimeout
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	db, err := openFile(path, timeout)
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("PKI store %s is in use by another process", path)
		}
		return nil, fmt.Errorf("PKI store %s is damaged or not a bbolt file: %w", path, err)
	}
	s := &Store{db: db, path: path, writes: make(chan *write), committed: make(chan struct{})}
	go s.commitLoop()
	if fresh {
		err = s.initialise()
	} else {
		err = s.check()
	}
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// openFile opens the bbolt file, turning the panics and memory faults that
// bbolt raises on damaged pages into errors.
func openFile(path string, timeout time.Duration) (db *bbolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return bbolt.Open(path, 0o600, &bbolt.Options{Timeout: timeout})
}

func (s *Store) initialise() error {
	return s.update(func(tx *bbolt.Tx) error {
		for _, b := range []string{bucketCerts, bucketRevocations, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		return tx.Bucket([]byte(bucketMeta)).Put([]byte(keyFormat), []byte(formatMarker))
	})
}

// check verifies that the file holds every page its header claims and the
// buckets of an intransit store, so damage shows up as an error at Open.
func (s *Store) check() error {
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("PKI store %s: %w", s.path, err)
	}
	return s.view(func(tx *bbolt.Tx) error {
		if tx.Size() > fi.Size() {
			return fmt.Errorf("PKI store %s is truncated: %d bytes on disk, %d expected", s.path, fi.Size(), tx.Size())
		}
		meta := tx.Bucket([]byte(bucketMeta))
		if meta == nil || tx.Bucket([]byte(bucketCerts)) == nil || tx.Bucket([]byte(bucketRevocations)) == nil {
			return fmt.Errorf("PKI store %s is not an intransit PKI store (buckets missing)", s.path)
		}
		if f := meta.Get([]byte(keyFormat)); string(f) != formatMarker {
			return fmt.Errorf("PKI store %s has format %q, want %q", s.path, f, formatMarker)
		}
		var first error
		for err := range tx.Check() {
			if first == nil {
				first = fmt.Errorf("PKI store %s is damaged: %w", s.path, err)
			}
		}
		return first
	})
}

// Close stops the committer and closes the file. Later calls return the
// first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.writes)
		<-s.committed
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("close PKI store %s: %w", s.path, err)
		}
	})
	return s.closeErr
}

// view runs fn in a read transaction, turning a panic from damaged pages
// into an error naming the file.
func (s *Store) view(fn func(*bbolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer s.recoverDamage(&err)
	return s.db.View(fn)
}

// write is one caller's change waiting for a commit.
type write struct {
	fn   func(*bbolt.Tx) error
	done chan error
}

// maxGroup bounds how many writes share one commit.
const maxGroup = 1024

// update runs fn in a write transaction and returns once it is committed
// and fsync'd. Writes that arrive while a commit is in flight are grouped
// into the next one (group commit): a lone writer never waits for company,
// and concurrent writers share the fsyncs.
func (s *Store) update(fn func(*bbolt.Tx) error) error {
	w := &write{fn: fn, done: make(chan error, 1)}
	s.writes <- w
	return <-w.done
}

// commitLoop takes the writes waiting, commits them together, and repeats.
func (s *Store) commitLoop() {
	defer close(s.committed)
	for w := range s.writes {
		group := []*write{w}
	gather:
		for len(group) < maxGroup {
			select {
			case w, ok := <-s.writes:
				if !ok {
					break gather
				}
				group = append(group, w)
			default:
				break gather
			}
		}
		s.commitGroup(group)
	}
}

// commitGroup commits the writes in one transaction. When one of them fails,
// the transaction is rolled back, that write gets its error and the others
// are committed without it, so a failing write never affects another.
func (s *Store) commitGroup(group []*write) {
	for len(group) > 0 {
		failed := -1
		var fnErr error
		err := s.safely(func() error {
			return s.db.Update(func(tx *bbolt.Tx) error {
				for i, w := range group {
					if err := s.safely(func() error { return w.fn(tx) }); err != nil {
						failed, fnErr = i, err
						return err
					}
				}
				return nil
			})
		})
		if failed < 0 {
			for _, w := range group {
				w.done <- err
			}
			return
		}
		group[failed].done <- fnErr
		group = append(group[:failed:failed], group[failed+1:]...)
	}
}

// safely runs fn, turning a panic (bbolt raises them on damaged pages) into
// an error naming the file.
func (s *Store) safely(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer s.recoverDamage(&err)
	return fn()
}

func (s *Store) recoverDamage(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("PKI store %s is damaged: %v", s.path, r)
	}
}

func serialKey(serial *big.Int) ([]byte, error) {
	if serial == nil || serial.Sign() <= 0 {
		return nil, fmt.Errorf("serial number must be positive")
	}
	return serial.Bytes(), nil
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func readU64(b *bbolt.Bucket, key string) (uint64, error) {
	v := b.Get([]byte(key))
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("meta %s is %d bytes, want 8", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

func (s *Store) decodeCert(k, v []byte) (*store.Certificate, error) {
	var c store.Certificate
	if err := json.Unmarshal(v, &c); err != nil {
		return nil, fmt.Errorf("PKI store %s: record %x is damaged: %w", s.path, k, err)
	}
	c.Serial = new(big.Int).SetBytes(k)
	return &c, nil
}

// PutCertificate implements store.Store.
func (s *Store) PutCertificate(ctx context.Context, rec *store.Certificate) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k, err := serialKey(rec.Serial)
	if err != nil {
		return err
	}
	v, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode certificate record: %w", err)
	}
	err = s.update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketCerts))
		if b.Get(k) != nil {
			return fmt.Errorf("serial %x: %w", k, store.ErrSerialExists)
		}
		return b.Put(k, v)
	})
	if err != nil {
		return fmt.Errorf("record certificate: %w", err)
	}
	return nil
}

// Certificate implements store.Store.
func (s *Store) Certificate(ctx context.Context, serial *big.Int) (*store.Certificate, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k, err := serialKey(serial)
	if err != nil {
		return nil, err
	}
	var out *store.Certificate
	err = s.view(func(tx *bbolt.Tx) error {
		v := tx.Bucket([]byte(bucketCerts)).Get(k)
		if v == nil {
			return fmt.Errorf("certificate with serial %x: %w", k, store.ErrNotFound)
		}
		out, err = s.decodeCert(k, v)
		return err
	})
	return out, err
}

// Certificates implements store.Store.
func (s *Store) Certificates(ctx context.Context, f store.Filter) ([]*store.Certificate, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.Now.IsZero() {
		f.Now = time.Now()
	}
	var out []*store.Certificate
	err := s.view(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucketCerts)).ForEach(func(k, v []byte) error {
			c, err := s.decodeCert(k, v)
			if err != nil {
				return err
			}
			if f.Match(c) {
				out = append(out, c)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *store.Certificate) int {
		if c := a.IssuedAt.Compare(b.IssuedAt); c != 0 {
			return c
		}
		return a.Serial.Cmp(b.Serial)
	})
	return out, nil
}

// Revoke implements store.Store.
func (s *Store) Revoke(ctx context.Context, serial *big.Int, at time.Time, reason store.Reason) (*store.Certificate, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k, err := serialKey(serial)
	if err != nil {
		return nil, err
	}
	var out *store.Certificate
	err = s.update(func(tx *bbolt.Tx) error {
		certs, meta := tx.Bucket([]byte(bucketCerts)), tx.Bucket([]byte(bucketMeta))
		v := certs.Get(k)
		if v == nil {
			return fmt.Errorf("certificate with serial %x: %w", k, store.ErrNotFound)
		}
		c, err := s.decodeCert(k, v)
		if err != nil {
			return err
		}
		if c.Status == store.StatusRevoked {
			return fmt.Errorf("serial %x (revoked %s): %w", k, c.RevokedAt.Format(time.RFC3339), store.ErrAlreadyRevoked)
		}
		rev, err := readU64(meta, keyRevision)
		if err != nil {
			return err
		}
		rev++
		t := at.UTC()
		c.Status, c.RevokedAt, c.Reason, c.Revision = store.StatusRevoked, &t, reason, rev
		nv, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("encode certificate record: %w", err)
		}
		ev := encodeRevocation(k, t, reason, c.NotAfter)
		if err := certs.Put(k, nv); err != nil {
			return err
		}
		if err := tx.Bucket([]byte(bucketRevocations)).Put(u64(rev), ev); err != nil {
			return err
		}
		if err := meta.Put([]byte(keyRevision), u64(rev)); err != nil {
			return err
		}
		out = c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("revoke: %w", err)
	}
	s.revoked.wake()
	return out, nil
}

// RevocationsSince implements store.Store.
func (s *Store) RevocationsSince(ctx context.Context, after uint64) ([]store.Revocation, uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	var out []store.Revocation
	var current uint64
	err := s.view(func(tx *bbolt.Tx) error {
		var err error
		if current, err = readU64(tx.Bucket([]byte(bucketMeta)), keyRevision); err != nil {
			return err
		}
		c := tx.Bucket([]byte(bucketRevocations)).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil; k, v = c.Next() {
			r, err := decodeRevocation(k, v)
			if err != nil {
				return fmt.Errorf("PKI store %s: %w", s.path, err)
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, current, nil
}

// Revocation entries are binary, so that reading 100,000 of them for a CRL
// stays cheap: version (1 byte), time of revocation and NotAfter (Unix
// nanoseconds, 8 bytes each, big-endian), reason length (1 byte) and name,
// then the serial's big-endian bytes.
const revocationVersion = 1

func encodeRevocation(serial []byte, at time.Time, reason store.Reason, notAfter time.Time) []byte {
	b := make([]byte, 0, 18+len(reason)+len(serial))
	b = append(b, revocationVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(at.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(notAfter.UnixNano()))
	b = append(b, byte(len(reason)))
	b = append(b, reason...)
	return append(b, serial...)
}

func decodeRevocation(k, v []byte) (store.Revocation, error) {
	if len(k) != 8 || len(v) < 18 || v[0] != revocationVersion || len(v) < 18+int(v[17])+1 {
		return store.Revocation{}, fmt.Errorf("revocation entry %x is damaged", k)
	}
	n := int(v[17])
	return store.Revocation{
		Revision: binary.BigEndian.Uint64(k),
		At:       time.Unix(0, int64(binary.BigEndian.Uint64(v[1:9]))).UTC(),
		NotAfter: time.Unix(0, int64(binary.BigEndian.Uint64(v[9:17]))).UTC(),
		Reason:   store.Reason(v[18 : 18+n]),
		Serial:   new(big.Int).SetBytes(v[18+n:]),
	}, nil
}

// NextCRLNumber implements store.Store.
func (s *Store) NextCRLNumber(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n uint64
	err := s.update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket([]byte(bucketMeta))
		cur, err := readU64(meta, keyCRLNumber)
		if err != nil {
			return err
		}
		n = cur + 1
		return meta.Put([]byte(keyCRLNumber), u64(n))
	})
	if err != nil {
		return 0, fmt.Errorf("reserve CRL number: %w", err)
	}
	return n, nil
}

// PutCRL implements store.Store.
func (s *Store) PutCRL(ctx context.Context, c *store.CRL) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	v, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode CRL: %w", err)
	}
	err = s.update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket([]byte(bucketMeta))
		if old := meta.Get([]byte(keyCRL)); old != nil {
			var prev store.CRL
			if err := json.Unmarshal(old, &prev); err != nil {
				return fmt.Errorf("PKI store %s: stored CRL is damaged: %w", s.path, err)
			}
			if prev.Number >= c.Number {
				return fmt.Errorf("CRL number %d, stored %d: %w", c.Number, prev.Number, store.ErrStaleCRL)
			}
		}
		return meta.Put([]byte(keyCRL), v)
	})
	if err != nil {
		return fmt.Errorf("store CRL: %w", err)
	}
	return nil
}

// CurrentCRL implements store.Store.
func (s *Store) CurrentCRL(ctx context.Context) (*store.CRL, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out store.CRL
	err := s.view(func(tx *bbolt.Tx) error {
		v := tx.Bucket([]byte(bucketMeta)).Get([]byte(keyCRL))
		if v == nil {
			return fmt.Errorf("CRL: %w", store.ErrNotFound)
		}
		if err := json.Unmarshal(bytes.Clone(v), &out); err != nil {
			return fmt.Errorf("PKI store %s: stored CRL is damaged: %w", s.path, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}
