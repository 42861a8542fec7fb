package p2s

import "context"

// Holders records which gateway holds each client's session, for gateways
// that serve the same clients from one shared store (etcd). A client runs
// one session at a time, so the newest session is the true one: a claim
// takes the client from whichever gateway held it, and that gateway learns
// it through Lost, ends its session and withdraws what it announced for
// the client. Every backend keeps this contract, which
// p2s/store/storetest.RunHolders checks:
//
//   - Claim records this gateway as the client's holder, whoever held it
//     before, and returns once that is durable. Of claims by several
//     gateways, the one committed last holds the client; every other
//     gateway that claimed it receives the client on Lost (once per
//     claim), however its connection to the store fared meanwhile.
//   - A claim lives under this gateway's lease in the store: when the
//     gateway stops renewing it (it died, or it was cut off from the store
//     for longer than the lease), the store forgets the claim by itself.
//     A gateway whose lease expired while it was cut off re-asserts its
//     claims when it is back, by revision: a claim that nobody took
//     meanwhile is its own again, one that another gateway took is Lost.
//   - Release removes this gateway's claim, and only its own: a claim
//     another gateway made meanwhile stays.
//   - Methods are safe for concurrent use and give up when ctx ends.
type Holders interface {
	// Claim records this gateway as the holder of client.
	Claim(ctx context.Context, client string) error
	// Release gives up this gateway's claim on client, if it holds it.
	Release(ctx context.Context, client string) error
	// Lost delivers the clients whose claim this gateway lost to another.
	Lost() <-chan string
	// Close gives up every claim of this gateway (a gateway that stops
	// holds no client); Lost delivers nothing after it.
	Close() error
}
