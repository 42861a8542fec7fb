// Package p2s is point-to-site: laptops ("clients") that enroll with a
// gateway and connect to it. The sub-packages each do one job:
//
//   - store/bolt keeps the gateway's point-to-site records (enrolled
//     clients, one-time tokens, address leases) in one bbolt file;
//   - pool hands out tunnel addresses from IPv4 and IPv6 pools, keeping a
//     client's address across reconnects and gateway restarts;
//   - enroll issues one-time tokens and serves the enrollment and renewal
//     API (CSR in, client certificate and chain out), and is the laptop's
//     client of that API;
//   - gateway admits clients on the mTLS control channel and runs their
//     WireGuard peers, routes, DNS, client isolation and revocation cuts;
//   - client is the laptop: it connects, picks a transport, applies routes
//     and DNS and restores them, and reconnects by itself.
//
// This package holds what they share: the Store seam and its records.
package p2s

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// ErrNotFound is returned by a Store for a record that does not exist.
var ErrNotFound = errors.New("not found")

// ErrAddressTaken is returned by Store.PutLease when an address of the
// lease is leased to another client.
var ErrAddressTaken = errors.New("address already leased to another client")

// Client is an enrolled laptop, recorded when its token is redeemed.
type Client struct {
	// Name is the client's name: the last element of its certificate's
	// intransit://<ca>/client/<name> identity.
	Name string `json:"name"`
	// Group is the policy group the client belongs to.
	Group string `json:"group"`
	// Enrolled is when the client enrolled.
	Enrolled time.Time `json:"enrolled"`
	// Serials are the serial numbers (hex) of the certificates issued to
	// the client, oldest first.
	Serials []string `json:"serials"`
}

// Token is a one-time enrollment token as the gateway stores it: the
// secret itself is never stored, only its SHA-256.
type Token struct {
	// ID names the token (public half of the token text).
	ID string `json:"id"`
	// SecretHash is SHA-256 of the secret half.
	SecretHash []byte `json:"secret_hash"`
	// Name and Group are what the enrolling client becomes.
	Name  string `json:"name"`
	Group string `json:"group"`
	// Created and Expires bound the token's use.
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	// Used is when the token was redeemed; zero while unused.
	Used time.Time `json:"used,omitzero"`
}

// Lease binds tunnel addresses to a client.
type Lease struct {
	// Client is the client's name.
	Client string `json:"client"`
	// Addresses are the leased addresses, at most one per family.
	Addresses []netip.Addr `json:"addresses"`
	// Updated is when the lease was granted or its client last seen:
	// connected when the gateway's lease sweep ran, or disconnecting.
	Updated time.Time `json:"updated"`
}

// Static is a device with a static WireGuard profile (wg-quick), for
// devices that cannot run intransit: no certificate and no PSK rotation;
// it is revoked by removing it. Its private key is never stored.
type Static struct {
	// Name names the device; Group is its policy group.
	Name  string `json:"name"`
	Group string `json:"group"`
	// PublicKey is the device's WireGuard public key.
	PublicKey [32]byte `json:"public_key"`
	// PresharedKey is the fixed PSK (secret: the store file is 0600).
	PresharedKey [32]byte `json:"preshared_key"`
	// Addresses are the device's leased tunnel addresses.
	Addresses []netip.Addr `json:"addresses"`
	// Created is when the profile was exported.
	Created time.Time `json:"created"`
}

// Store keeps a gateway's point-to-site records durably. Every method is
// safe for concurrent use; a write has reached stable storage when it
// returns nil. Methods block only on storage and give up when ctx ends.
type Store interface {
	// PutClient creates or replaces a client record.
	PutClient(ctx context.Context, c Client) error
	// Client returns the named client, or an error wrapping ErrNotFound.
	Client(ctx context.Context, name string) (Client, error)
	// DeleteClient removes a client record; an unknown name is an error
	// wrapping ErrNotFound.
	DeleteClient(ctx context.Context, name string) error

	// PutToken stores a new token; an existing ID is an error.
	PutToken(ctx context.Context, t Token) error
	// Token returns the token id, or an error wrapping ErrNotFound.
	Token(ctx context.Context, id string) (Token, error)
	// RedeemToken spends the token id and records its client, in one
	// commit or not at all: check sees the stored token and may refuse
	// (expired, used, wrong secret); only when it returns nil is the token
	// marked used at now and the client record (the token's name and
	// group, enrolled at now) created or updated with serial appended. An
	// unknown id is an error wrapping ErrNotFound.
	RedeemToken(ctx context.Context, id string, now time.Time, check func(Token) error, serial string) (Token, error)

	// Leases returns every lease.
	Leases(ctx context.Context) ([]Lease, error)
	// PutLease creates or replaces the lease of l.Client. An address held
	// by another client's lease is refused with ErrAddressTaken.
	PutLease(ctx context.Context, l Lease) error
	// DeleteLeases removes the leases of the clients in one commit; a
	// client without a lease is not an error.
	DeleteLeases(ctx context.Context, clients ...string) error
	// TouchLeases sets the Updated time of the clients' leases to at, in
	// one commit; a client without a lease is passed over.
	TouchLeases(ctx context.Context, at time.Time, clients ...string) error

	// PutStatic creates a static device; an existing name is an error.
	PutStatic(ctx context.Context, s Static) error
	// Statics returns every static device.
	Statics(ctx context.Context) ([]Static, error)
	// DeleteStatic removes a static device; an unknown name is an error
	// wrapping ErrNotFound.
	DeleteStatic(ctx context.Context, name string) error

	// Close releases the store.
	Close() error
}
