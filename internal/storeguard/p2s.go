package storeguard

import (
	"context"
	"time"

	"intransit/p2s"
)

// P2S is a p2s.Store whose every call goes through a Guard.
type P2S struct {
	st p2s.Store
	g  *Guard
}

var _ p2s.Store = (*P2S)(nil)

// NewP2S guards st with g.
func NewP2S(st p2s.Store, g *Guard) *P2S { return &P2S{st: st, g: g} }

// do1 runs a call that returns a value through the guard.
func do1[T any](ctx context.Context, g *Guard, fn func(context.Context) (T, error)) (T, error) {
	var out T
	err := g.Do(ctx, func(ctx context.Context) error {
		var err error
		out, err = fn(ctx)
		return err
	})
	return out, err
}

// PutClient implements p2s.Store.
func (s *P2S) PutClient(ctx context.Context, c p2s.Client) error {
	return s.g.Do(ctx, func(ctx context.Context) error { return s.st.PutClient(ctx, c) })
}

// Client implements p2s.Store.
func (s *P2S) Client(ctx context.Context, name string) (p2s.Client, error) {
	return do1(ctx, s.g, func(ctx context.Context) (p2s.Client, error) { return s.st.Client(ctx, name) })
}

// DeleteClient implements p2s.Store.
func (s *P2S) DeleteClient(ctx context.Context, name string) error {
	return s.g.Do(ctx, func(ctx context.Context) error { return s.st.DeleteClient(ctx, name) })
}

// ListClients implements p2s.Store.
func (s *P2S) ListClients(ctx context.Context) ([]p2s.Client, error) {
	return do1(ctx, s.g, s.st.ListClients)
}

// PutToken implements p2s.Store.
func (s *P2S) PutToken(ctx context.Context, t p2s.Token) error {
	return s.g.Do(ctx, func(ctx context.Context) error { return s.st.PutToken(ctx, t) })
}

// Token implements p2s.Store.
func (s *P2S) Token(ctx context.Context, id string) (p2s.Token, error) {
	return do1(ctx, s.g, func(ctx context.Context) (p2s.Token, error) { return s.st.Token(ctx, id) })
}

// RedeemToken implements p2s.Store.
func (s *P2S) RedeemToken(ctx context.Context, id string, now time.Time, check func(p2s.Token) error, serial string) (p2s.Token, error) {
	return do1(ctx, s.g, func(ctx context.Context) (p2s.Token, error) { return s.st.RedeemToken(ctx, id, now, check, serial) })
}

// Lease implements p2s.Store.
func (s *P2S) Lease(ctx context.Context, client string) (p2s.Lease, error) {
	return do1(ctx, s.g, func(ctx context.Context) (p2s.Lease, error) { return s.st.Lease(ctx, client) })
}

// Leases implements p2s.Store.
func (s *P2S) Leases(ctx context.Context) ([]p2s.Lease, error) {
	return do1(ctx, s.g, s.st.Leases)
}

// CreateLease implements p2s.Store.
func (s *P2S) CreateLease(ctx context.Context, l p2s.Lease) error {
	return s.g.Do(ctx, func(ctx context.Context) error { return s.st.CreateLease(ctx, l) })
}

// PutLease implements p2s.Store.
func (s *P2S) PutLease(ctx context.Context, l p2s.Lease) error {
	return s.g.Do(ctx, func(ctx context.Context) error { return s.st.PutLease(ctx, l) })
}

// DeleteLeases implements p2s.Store.
func (s *P2S) DeleteLeases(ctx context.Context, clients ...string) error {
	return s.g.Do(ctx, func(ctx context.Context) error { return s.st.DeleteLeases(ctx, clients...) })
}

// TouchLeases implements p2s.Store.
func (s *P2S) TouchLeases(ctx context.Context, at time.Time, clients ...string) error {
	return s.g.Do(ctx, func(ctx context.Context) error { return s.st.TouchLeases(ctx, at, clients...) })
}

// ReclaimLeases implements p2s.Store.
func (s *P2S) ReclaimLeases(ctx context.Context, idleSince time.Time, keep func(string) bool) ([]string, error) {
	return do1(ctx, s.g, func(ctx context.Context) ([]string, error) { return s.st.ReclaimLeases(ctx, idleSince, keep) })
}

// PutStatic implements p2s.Store.
func (s *P2S) PutStatic(ctx context.Context, st p2s.Static) error {
	return s.g.Do(ctx, func(ctx context.Context) error { return s.st.PutStatic(ctx, st) })
}

// Statics implements p2s.Store.
func (s *P2S) Statics(ctx context.Context) ([]p2s.Static, error) {
	return do1(ctx, s.g, s.st.Statics)
}

// DeleteStatic implements p2s.Store.
func (s *P2S) DeleteStatic(ctx context.Context, name string) error {
	return s.g.Do(ctx, func(ctx context.Context) error { return s.st.DeleteStatic(ctx, name) })
}

// Close implements p2s.Store.
func (s *P2S) Close() error { return s.st.Close() }
