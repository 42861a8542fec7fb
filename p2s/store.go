package p2s

import (
	"context"
	"time"
)

// The point-to-site state lives in four small stores. Every backend keeps
// this contract, which p2s/store/storetest checks against each of them:
//
//   - A write that returns nil is durable (on stable storage, or committed
//     by a quorum of an etcd cluster); a write that returns an error made
//     no change, unless ctx ended after it was committed.
//   - Records returned are copies; callers may modify them.
//   - Every method is safe for concurrent use, and for a backend that
//     several gateways share (etcd), safe from every gateway at once: the
//     checks a method makes and the change it makes are one atomic step
//     (a transaction or a compare-and-swap), never a read in one gateway's
//     memory followed by a write.
//   - Methods block only on the backend and give up when ctx ends.

// Clients keeps the enrolled clients.
type Clients interface {
	// PutClient creates or replaces a client record.
	PutClient(ctx context.Context, c Client) error
	// Client returns the named client, or an error wrapping ErrNotFound.
	Client(ctx context.Context, name string) (Client, error)
	// DeleteClient removes a client record; an unknown name is an error
	// wrapping ErrNotFound.
	DeleteClient(ctx context.Context, name string) error
	// ListClients returns every client record, sorted by name.
	ListClients(ctx context.Context) ([]Client, error)
}

// Tokens keeps the one-time enrollment tokens. Redeeming a token records
// its client, so a Tokens backend holds the Clients too.
type Tokens interface {
	// PutToken stores a new token; an existing ID is an error.
	PutToken(ctx context.Context, t Token) error
	// Token returns the token id, or an error wrapping ErrNotFound.
	Token(ctx context.Context, id string) (Token, error)
	// RedeemToken spends the token id and records its client, in one
	// atomic step or not at all: check sees the stored token and may
	// refuse (expired, used, wrong secret); only when it returns nil is the
	// token marked used at now and the client record (the token's name and
	// group, enrolled at now) created or updated with serial appended.
	// When several callers (on one gateway or on several) redeem the same
	// token at once, check sees each state once and a token that check
	// refuses once used is redeemed by exactly one of them. check may be
	// called more than once when a caller loses a race. An unknown id is
	// an error wrapping ErrNotFound.
	RedeemToken(ctx context.Context, id string, now time.Time, check func(Token) error, serial string) (Token, error)
}

// Leases keeps the address leases. The store is the truth: an address is
// leased when the store says so, whatever a gateway remembers.
type Leases interface {
	// Lease returns the client's lease, or an error wrapping ErrNotFound.
	Lease(ctx context.Context, client string) (Lease, error)
	// Leases returns every lease.
	Leases(ctx context.Context) ([]Lease, error)
	// CreateLease records a new lease for l.Client, compare-and-swap: it
	// fails with ErrLeaseExists when the client holds a lease and with
	// ErrAddressTaken when another client's lease holds one of the
	// addresses. Of concurrent creators for one client or one address,
	// exactly one wins.
	CreateLease(ctx context.Context, l Lease) error
	// PutLease creates or replaces the lease of l.Client, freeing the
	// addresses of the lease it replaces. An address held by another
	// client's lease is refused with ErrAddressTaken.
	PutLease(ctx context.Context, l Lease) error
	// DeleteLeases removes the leases of the clients in one atomic step; a
	// client without a lease is not an error.
	DeleteLeases(ctx context.Context, clients ...string) error
	// TouchLeases records that the clients were seen at at: their leases'
	// Updated time becomes at (and a backend's idle timer restarts), in one
	// atomic step; a client without a lease is passed over.
	TouchLeases(ctx context.Context, at time.Time, clients ...string) error
	// ReclaimLeases removes the leases last updated before idleSince whose
	// clients keep does not claim, and returns those clients, sorted. A
	// lease touched or replaced meanwhile (by any gateway) is not removed.
	// Leases of StaticLeasePrefix clients are never removed by it. keep
	// must not call the store.
	//
	// A backend with its own timers (etcd's leases) also removes, by
	// itself, a lease not touched for its configured idle time, except a
	// static device's: no gateway's clock is needed for it.
	ReclaimLeases(ctx context.Context, idleSince time.Time, keep func(client string) bool) ([]string, error)
}

// Statics keeps the static devices.
type Statics interface {
	// PutStatic creates a static device; an existing name is an error.
	PutStatic(ctx context.Context, s Static) error
	// Statics returns every static device.
	Statics(ctx context.Context) ([]Static, error)
	// DeleteStatic removes a static device; an unknown name is an error
	// wrapping ErrNotFound.
	DeleteStatic(ctx context.Context, name string) error
}

// Store is the whole of a gateway's point-to-site state on one backend.
type Store interface {
	Clients
	Tokens
	Leases
	Statics
	// Close releases the store. No method may be called after it.
	Close() error
}
