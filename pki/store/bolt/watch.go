package bolt

import (
	"context"
	"sync"

	"intransit/pki/store"
)

var _ store.RevocationWatcher = (*Store)(nil)

// revoked wakes the watches of this process when a revocation commits; one
// process holds the file, so no other can revoke meanwhile.
type revoked struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed at the next revocation.
func (r *revoked) wait() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ch == nil {
		r.ch = make(chan struct{})
	}
	return r.ch
}

// wake wakes the waiting watches.
func (r *revoked) wake() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ch != nil {
		close(r.ch)
		r.ch = nil
	}
}

// WatchRevocations implements store.RevocationWatcher: it reads the feed
// from the file after each revocation this process commits.
func (s *Store) WatchRevocations(ctx context.Context, after uint64, fn func(store.Revocation) error) error {
	last := after
	for {
		woken := s.revoked.wait()
		revs, _, err := s.RevocationsSince(ctx, last)
		if err != nil {
			return err
		}
		for _, r := range revs {
			if err := fn(r); err != nil {
				return err
			}
			last = r.Revision
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-woken:
		}
	}
}
