package etcd

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"intransit/pki/store"
)

// Backoff bounds of the watch's retries after a failed catch-up.
const (
	minRetry = 100 * time.Millisecond
	maxRetry = 2 * time.Second
)

// WatchRevocations implements store.RevocationWatcher. It reads the
// revocations above after from one snapshot, then follows an etcd watch
// from that snapshot's revision. When the watch ends (a disconnect, a lost
// leader, or a compaction that removed the history it needed) it reads
// again from the last revision it delivered, so a revocation is never
// missed or delivered twice whatever the cluster did meanwhile.
func (s *Store) WatchRevocations(ctx context.Context, after uint64, fn func(store.Revocation) error) error {
	return s.watch(ctx, after, 0, fn)
}

// watch is WatchRevocations starting at etcd revision from (0: catch up
// from the store first). Tests start it at a compacted revision.
func (s *Store) watch(ctx context.Context, last uint64, from int64, fn func(store.Revocation) error) error {
	retry := minRetry
	deliver := func(r store.Revocation) (bool, error) {
		if r.Revision <= last {
			return true, nil
		}
		if r.Revision != last+1 {
			return false, nil // a gap: read the store again
		}
		if err := fn(r); err != nil {
			return false, err
		}
		last = r.Revision
		return true, nil
	}
	for {
		if from == 0 {
			revs, _, etcdRev, err := s.since(ctx, last)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(retry):
				}
				retry = min(2*retry, maxRetry)
				continue
			}
			retry = minRetry
			for _, r := range revs {
				if _, err := deliver(r); err != nil {
					return err
				}
			}
			from = etcdRev + 1
		}
		err := s.follow(ctx, from, deliver)
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		from = 0
	}
}

// follow delivers the feed entries of an etcd watch from revision from
// until the watch ends or needs a fresh read (it returns nil then), or fn
// fails.
func (s *Store) follow(ctx context.Context, from int64, deliver func(store.Revocation) (bool, error)) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for wr := range s.cl.Watch(wctx, s.revPrefix(), clientv3.WithPrefix(), clientv3.WithRev(from)) {
		if wr.CompactRevision != 0 || wr.Canceled || wr.Err() != nil {
			return nil
		}
		for _, ev := range wr.Events {
			if ev.Type != clientv3.EventTypePut {
				continue
			}
			r, err := decodeRevocation(string(ev.Kv.Key), ev.Kv.Value)
			if err != nil {
				return fmt.Errorf("revocation watch: %w", err)
			}
			ok, err := deliver(r)
			if err != nil {
				return err
			}
			if !ok {
				return nil
			}
		}
	}
	return nil
}
