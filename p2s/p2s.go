// Package p2s is point-to-site: laptops ("clients") that enroll with a
// gateway and connect to it. The sub-packages each do one job:
//
//   - store/bolt keeps the gateway's point-to-site records (enrolled
//     clients, one-time tokens, address leases, static devices) in one
//     bbolt file, and store/etcd keeps them in an etcd cluster that
//     several gateways share; store/storetest is the contract both pass;
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
// This package holds what they share: the store seams (Clients, Tokens,
// Leases, Statics) and their records.
package p2s

import (
	"errors"
	"net/netip"
	"time"
)

// ErrNotFound is returned by a Store for a record that does not exist.
var ErrNotFound = errors.New("not found")

// ErrAddressTaken is returned by Leases.PutLease and CreateLease when an
// address of the lease is leased to another client.
var ErrAddressTaken = errors.New("address already leased to another client")

// ErrUnreachable is wrapped by the errors of a shared store that the
// gateway cannot reach: nothing can be recorded (no lease, no enrollment),
// so new clients are refused while connected ones keep their tunnels.
var ErrUnreachable = errors.New("the shared store is unreachable: no lease or enrollment can be recorded")

// ErrLeaseExists is returned by Leases.CreateLease when the client holds a
// lease already.
var ErrLeaseExists = errors.New("client holds a lease already")

// StaticLeasePrefix starts the lease names of static devices; such leases
// are never reclaimed for idleness (a static device is removed by hand).
const StaticLeasePrefix = "static:"

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
