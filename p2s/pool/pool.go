// Package pool hands out point-to-site tunnel addresses: one from an IPv4
// pool and one from an IPv6 pool per client (either pool may be absent).
// A client keeps its lease across reconnects, gateway restarts and
// gateways, because leases live in the store (p2s.Leases), which several
// gateways may share. Both addresses of a
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

// Pool allocates addresses. It is safe for concurrent use, and several
// pools (on several gateways) may share one store: the store is the truth.
// A lease is created by compare-and-swap in the store (p2s.Leases), and
// reclaimed there; what the pool remembers of the store's leases is only a
// hint of where free addresses are, corrected whenever the store refuses.
type Pool struct {
	v4, v6 netip.Prefix
	size   uint64 // usable host indexes: 1..size
	store  p2s.Leases

	mu      sync.Mutex
	used    map[uint64]string // host index -> client, as last seen or reserved
	held    map[string]uint64 // client -> host index
	pending map[uint64]string // reserved, being created in the store
	next    uint64
}

// maxAttempts bounds how often Acquire tries again after losing a race
// for an address or a client to another pool on the same store.
const maxAttempts = 16

// New loads the leases from store and returns the pool over the given
// prefixes (an invalid prefix means that family is not served; at least one
// is required). Leases outside the pools (after a pool change) are kept in
// the store but not honoured: such a client gets a new address.
func New(ctx context.Context, v4, v6 netip.Prefix, store p2s.Leases) (*Pool, error) {
	if !v4.IsValid() && !v6.IsValid() {
		return nil, errors.New("pool: neither an IPv4 nor an IPv6 pool")
	}
	p := &Pool{v4: v4, v6: v6, store: store, pending: map[uint64]string{}, next: 1}
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
	if err := p.refresh(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// refresh replaces the pool's hints with the store's leases.
func (p *Pool) refresh(ctx context.Context) error {
	leases, err := p.store.Leases(ctx)
	if err != nil {
		return fmt.Errorf("pool: %w", err)
	}
	used, held := map[uint64]string{}, map[string]uint64{}
	for _, l := range leases {
		idx, ok := p.indexOf(l.Addresses)
		if !ok {
			continue
		}
		if _, taken := used[idx]; taken {
			continue
		}
		used[idx], held[l.Client] = l.Client, idx
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Reservations being created are kept: they are this pool's own.
	for idx, c := range p.pending {
		if _, taken := used[idx]; !taken {
			used[idx], held[c] = c, idx
		}
	}
	p.used, p.held = used, held
	return nil
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

// InUse is the number of leases held, as the pool last saw the store (at
// start, at each Reclaim, and through its own changes).
func (p *Pool) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.used)
}

// Acquire returns the client's addresses: its lease when the store holds
// one (recorded as seen now), else a new lease, durable before Acquire
// returns. A full pool is an error wrapping ErrExhausted. A new lease is
// created by compare-and-swap in the store: when another pool on the same
// store took the address or leased the client meanwhile, Acquire looks
// again.
func (p *Pool) Acquire(ctx context.Context, client string) ([]netip.Addr, error) {
	refreshed := false
	for range maxAttempts {
		now := time.Now().UTC()
		replace := false
		l, err := p.store.Lease(ctx, client)
		switch {
		case err == nil:
			if idx, ok := p.indexOf(l.Addresses); ok {
				// Seen now, in the store: a sweep on any gateway passes
				// it over, and a lease reclaimed meanwhile is made again.
				l.Updated = now
				err := p.store.PutLease(ctx, l)
				if errors.Is(err, p2s.ErrAddressTaken) {
					continue
				}
				if err != nil {
					return nil, fmt.Errorf("pool: lease for %s: %w", client, err)
				}
				p.note(idx, client)
				return slices.Clone(l.Addresses), nil
			}
			replace = true // outside the pools: a new address
		case !errors.Is(err, p2s.ErrNotFound):
			return nil, fmt.Errorf("pool: lease for %s: %w", client, err)
		}
		idx, ok := p.reserve(client)
		if !ok {
			if refreshed {
				return nil, fmt.Errorf("%w: all %d addresses of %v are leased", ErrExhausted, p.size, p.Prefixes())
			}
			if err := p.refresh(ctx); err != nil {
				return nil, err
			}
			refreshed = true
			continue
		}
		l = p2s.Lease{Client: client, Addresses: p.addresses(idx), Updated: now}
		if replace {
			err = p.store.PutLease(ctx, l)
		} else {
			err = p.store.CreateLease(ctx, l)
		}
		switch {
		case err == nil:
			p.settle(idx, client)
			return slices.Clone(l.Addresses), nil
		case errors.Is(err, p2s.ErrAddressTaken):
			// Another pool leased it: learn the store's leases.
			p.forget(client, idx)
			if err := p.refresh(ctx); err != nil {
				return nil, err
			}
		case errors.Is(err, p2s.ErrLeaseExists):
			// Another pool leased this client meanwhile: take that lease.
			p.forget(client, idx)
		default:
			p.forget(client, idx)
			return nil, fmt.Errorf("pool: lease for %s: %w", client, err)
		}
	}
	return nil, fmt.Errorf("pool: lease for %s: lost %d races for an address in a row", client, maxAttempts)
}

// reserve takes a free host index for client as the pool sees the store:
// the one the client held last when the pool remembers it (a lease that
// the store reclaimed or let expire gives the same address back unless
// another client took it), else the next free one. The store decides when
// the lease is created.
func (p *Pool) reserve(client string) (uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if old, ok := p.held[client]; ok && p.used[old] == client {
		p.pending[old] = client
		return old, true
	}
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
		p.used[idx], p.held[client], p.pending[idx] = client, idx, client
		return idx, true
	}
	return 0, false
}

// settle records that client's reservation of idx is now a lease in the
// store.
func (p *Pool) settle(idx uint64, client string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending[idx] == client {
		delete(p.pending, idx)
	}
}

// note records that client holds idx.
func (p *Pool) note(idx uint64, client string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if old, ok := p.held[client]; ok && old != idx && p.used[old] == client {
		delete(p.used, old)
	}
	p.used[idx], p.held[client] = client, idx
}

// forget drops client's hold (or reservation) of idx.
func (p *Pool) forget(client string, idx uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending[idx] == client {
		delete(p.pending, idx)
	}
	if p.used[idx] == client {
		delete(p.used, idx)
	}
	if p.held[client] == idx {
		delete(p.held, client)
	}
}

// Release gives a client's addresses back (when the client is removed).
func (p *Pool) Release(ctx context.Context, client string) error {
	if err := p.store.DeleteLeases(ctx, client); err != nil {
		return fmt.Errorf("pool: release %s: %w", client, err)
	}
	p.mu.Lock()
	idx, ok := p.held[client]
	p.mu.Unlock()
	if ok {
		p.forget(client, idx)
	}
	return nil
}

// Touch records in the store that the clients were seen at t (concurrent
// calls may share a commit). Clients without a lease are passed over.
func (p *Pool) Touch(ctx context.Context, t time.Time, clients ...string) error {
	if err := p.store.TouchLeases(ctx, t.UTC(), clients...); err != nil {
		return fmt.Errorf("pool: touch leases: %w", err)
	}
	return nil
}

// Reclaim has the store release every lease whose client was last seen
// (granted, acquired or touched, by any pool on the store) before
// idleSince and that keep does not claim, and returns those clients,
// sorted; then it learns the store's leases again, so that leases other
// pools made and the store's own timers removed count. keep must not call
// the pool.
func (p *Pool) Reclaim(ctx context.Context, idleSince time.Time, keep func(client string) bool) ([]string, error) {
	idle, err := p.store.ReclaimLeases(ctx, idleSince, keep)
	if err != nil {
		return nil, fmt.Errorf("pool: reclaim leases: %w", err)
	}
	if err := p.refresh(ctx); err != nil {
		return idle, err
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
