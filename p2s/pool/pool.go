// Package pool hands out point-to-site tunnel addresses: one from an IPv4
// pool and one from an IPv6 pool per client (either pool may be absent).
// A client keeps its lease across reconnects and gateway restarts, because
// leases live in the p2s.Store and are loaded at start. Both addresses of a
// client have the same host index in their pools, which keeps the two
// families easy to correlate.
//
// The first address of each pool (the network address for IPv4, the
// subnet-router anycast address for IPv6) is the gateway's own tunnel
// address; the last IPv4 address (broadcast) is never handed out.
package pool

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"sync"
	"time"

	"intransit/p2s"
)

// ErrExhausted is wrapped by Acquire's error when no address is left.
var ErrExhausted = errors.New("address pool exhausted")

// MaxSize bounds the host indexes a pool scans (2^24 clients).
const MaxSize = 1 << 24

// Pool allocates addresses. It is safe for concurrent use.
type Pool struct {
	v4, v6 netip.Prefix
	size   uint64 // usable host indexes: 1..size
	store  p2s.Store

	mu     sync.Mutex
	leases map[string]p2s.Lease
	used   map[uint64]string // host index -> client
	next   uint64
}

// New loads the leases from store and returns the pool over the given
// prefixes (an invalid prefix means that family is not served; at least one
// is required). Leases outside the pools (after a pool change) are kept in
// the store but not honoured: such a client gets a new address.
func New(ctx context.Context, v4, v6 netip.Prefix, store p2s.Store) (*Pool, error) {
	if !v4.IsValid() && !v6.IsValid() {
		return nil, errors.New("pool: neither an IPv4 nor an IPv6 pool")
	}
	p := &Pool{v4: v4, v6: v6, store: store, leases: map[string]p2s.Lease{}, used: map[uint64]string{}, next: 1}
	p.size = MaxSize
	if v4.IsValid() {
		if !v4.Addr().Is4() || v4.Masked() != v4 || v4.Bits() > 30 {
			return nil, fmt.Errorf("pool: %s is not an IPv4 prefix of at most /30 with no host bits", v4)
		}
		p.size = min(p.size, uint64(1)<<(32-v4.Bits())-2)
	}
	if v6.IsValid() {
		if !v6.Addr().Is6() || v6.Addr().Is4In6() || v6.Masked() != v6 || v6.Bits() > 126 {
			return nil, fmt.Errorf("pool: %s is not an IPv6 prefix of at most /126 with no host bits", v6)
		}
		if hb := 128 - v6.Bits(); hb < 25 {
			p.size = min(p.size, uint64(1)<<hb-1)
		}
	}
	leases, err := store.Leases(ctx)
	if err != nil {
		return nil, fmt.Errorf("pool: %w", err)
	}
	for _, l := range leases {
		idx, ok := p.indexOf(l.Addresses)
		if !ok {
			continue
		}
		if _, taken := p.used[idx]; taken {
			continue
		}
		p.used[idx] = l.Client
		p.leases[l.Client] = l
	}
	return p, nil
}

// GatewayAddresses are the gateway's own tunnel addresses with the pools'
// prefix lengths, for the TUN interface.
func (p *Pool) GatewayAddresses() []netip.Prefix {
	var out []netip.Prefix
	for _, pr := range []netip.Prefix{p.v4, p.v6} {
		if pr.IsValid() {
			out = append(out, netip.PrefixFrom(pr.Addr(), pr.Bits()))
		}
	}
	return out
}

// Prefixes are the pools.
func (p *Pool) Prefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, pr := range []netip.Prefix{p.v4, p.v6} {
		if pr.IsValid() {
			out = append(out, pr)
		}
	}
	return out
}

// Size is the number of clients the pool can serve.
func (p *Pool) Size() uint64 { return p.size }

// InUse is the number of leases held.
func (p *Pool) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.used)
}

// Acquire returns the client's addresses: its lease when it has one, else
// a new lease, durable before Acquire returns. A full pool is an error
// wrapping ErrExhausted. The address is reserved under the pool's lock and
// written without it, so that concurrent new leases share commits.
func (p *Pool) Acquire(ctx context.Context, client string) ([]netip.Addr, error) {
	p.mu.Lock()
	if l, ok := p.leases[client]; ok {
		if l.Addresses == nil {
			p.mu.Unlock()
			return nil, fmt.Errorf("pool: a lease for %s is being written", client)
		}
		// Seen now, in memory: Reclaim passes it over; Touch makes it
		// durable.
		l.Updated = time.Now().UTC()
		p.leases[client] = l
		p.mu.Unlock()
		return slices.Clone(l.Addresses), nil
	}
	idx, ok := p.reserve(client)
	p.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: all %d addresses of %v are leased", ErrExhausted, p.size, p.Prefixes())
	}
	l := p2s.Lease{Client: client, Addresses: p.addresses(idx), Updated: time.Now().UTC()}
	err := p.store.PutLease(ctx, l)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		delete(p.used, idx)
		delete(p.leases, client)
		return nil, fmt.Errorf("pool: lease for %s: %w", client, err)
	}
	p.leases[client] = l
	return slices.Clone(l.Addresses), nil
}

// reserve takes the next free host index for client; the caller holds
// p.mu. The lease is recorded without addresses until it is durable.
func (p *Pool) reserve(client string) (uint64, bool) {
	if uint64(len(p.used)) >= p.size {
		return 0, false
	}
	for range p.size {
		idx := p.next
		p.next++
		if p.next > p.size {
			p.next = 1
		}
		if _, taken := p.used[idx]; taken {
			continue
		}
		p.used[idx] = client
		p.leases[client] = p2s.Lease{Client: client}
		return idx, true
	}
	return 0, false
}

// Release gives a client's addresses back (when the client is removed).
func (p *Pool) Release(ctx context.Context, client string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.leases[client]
	if !ok {
		return nil
	}
	if err := p.store.DeleteLeases(ctx, client); err != nil {
		return fmt.Errorf("pool: release %s: %w", client, err)
	}
	if idx, ok := p.indexOf(l.Addresses); ok {
		delete(p.used, idx)
	}
	delete(p.leases, client)
	return nil
}

// Touch records that the clients were seen at t: their leases' Updated
// time becomes t at once for Reclaim, and durably when Touch returns nil
// (concurrent calls may share a commit). Clients without a lease are
// passed over.
func (p *Pool) Touch(ctx context.Context, t time.Time, clients ...string) error {
	t = t.UTC()
	p.mu.Lock()
	for _, c := range clients {
		if l, ok := p.leases[c]; ok && l.Addresses != nil && l.Updated.Before(t) {
			l.Updated = t
			p.leases[c] = l
		}
	}
	p.mu.Unlock()
	if err := p.store.TouchLeases(ctx, t, clients...); err != nil {
		return fmt.Errorf("pool: touch leases: %w", err)
	}
	return nil
}

// Reclaim releases, in one commit, every lease whose client was last seen
// (granted, acquired or touched) before idleSince and that keep does not
// claim, and returns those clients, sorted. keep is called under the
// pool's lock, so a client acquiring its lease meanwhile is never
// reclaimed; it must not call the pool.
func (p *Pool) Reclaim(ctx context.Context, idleSince time.Time, keep func(client string) bool) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var idle []string
	for c, l := range p.leases {
		if l.Addresses != nil && l.Updated.Before(idleSince) && !keep(c) {
			idle = append(idle, c)
		}
	}
	if len(idle) == 0 {
		return nil, nil
	}
	slices.Sort(idle)
	if err := p.store.DeleteLeases(ctx, idle...); err != nil {
		return nil, fmt.Errorf("pool: reclaim %d leases: %w", len(idle), err)
	}
	for _, c := range idle {
		if idx, ok := p.indexOf(p.leases[c].Addresses); ok {
			delete(p.used, idx)
		}
		delete(p.leases, c)
	}
	return idle, nil
}

// addresses returns the addresses of host index idx.
func (p *Pool) addresses(idx uint64) []netip.Addr {
	var out []netip.Addr
	for _, pr := range []netip.Prefix{p.v4, p.v6} {
		if pr.IsValid() {
			out = append(out, addOffset(pr.Addr(), idx))
		}
	}
	return out
}

// indexOf returns the host index of a lease's addresses when they are
// exactly what the current pools give for that index.
func (p *Pool) indexOf(addrs []netip.Addr) (uint64, bool) {
	if len(addrs) == 0 {
		return 0, false
	}
	var base netip.Addr
	switch {
	case addrs[0].Is4() && p.v4.IsValid():
		base = p.v4.Addr()
	case addrs[0].Is6() && p.v6.IsValid():
		base = p.v6.Addr()
	default:
		return 0, false
	}
	d := new(big.Int).Sub(new(big.Int).SetBytes(addrs[0].AsSlice()), new(big.Int).SetBytes(base.AsSlice()))
	if d.Sign() <= 0 || !d.IsUint64() || d.Uint64() > p.size {
		return 0, false
	}
	idx := d.Uint64()
	if !slices.Equal(addrs, p.addresses(idx)) {
		return 0, false
	}
	return idx, true
}

// addOffset returns a + n.
func addOffset(a netip.Addr, n uint64) netip.Addr {
	b := a.AsSlice()
	v := new(big.Int).Add(new(big.Int).SetBytes(b), new(big.Int).SetUint64(n))
	out := v.FillBytes(make([]byte, len(b)))
	r, _ := netip.AddrFromSlice(out)
	return r
}
