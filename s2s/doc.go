// Package s2s is the site-to-site gateway engine: one WireGuard device that
// serves every configured transport at once, and per remote gateway a
// control session over TLS 1.3 mTLS (tunnel/control) that proves both
// identities, binds the WireGuard keys to the certificates, agrees on the
// routed prefixes and rotates the post-quantum PSK.
//
// # Sessions
//
// A remote with control addresses is dialed, with backoff between failed
// attempts; every remote may also connect to us. When both gateways list
// each other, the one whose identity sorts first keeps its own outgoing
// session and refuses the other's (ReasonUnexpected), and a gateway never
// dials a remote it already has a session with, so the two never flap. A new
// session from a remote that already has one (the remote restarted before
// the old session timed out) supersedes the old one.
//
// The control listener is internal/gatewaycore's: a connection must finish
// its TLS handshake within handshake_timeout in one of a bounded number of
// handshake slots (a few per source; some reserved for the addresses of
// the configured remotes' control endpoints) before it takes a session
// slot, so strangers holding idle connections cannot keep a remote out.
//
// Admission checks the certificate (chain to the configured CAs, the CRL,
// the profile) in tlspolicy, then the identity: the peer's URI or DNS SAN
// must be a configured remote's identity, and its WireGuard key must not be
// another remote's (key_in_use). Refusals are logged (one line per reason
// every 10 seconds at most, with the count of those not logged), kept in
// the status (last refusals, and the remote's state and reason) and
// counted.
//
// # Data plane
//
// When a session is admitted the remote becomes a WireGuard peer whose
// allowed IPs are the agreed prefixes (control.Agree), with a route for each
// into the TUN interface; both go away when the session ends. The dialing
// side gives the peer an endpoint, chosen from the transports the remote
// advertised in the order the configuration prefers, and a
// transport.Monitor moves it to the next one when probes through the
// tunnel go unanswered for 5 s, and back to the preferred one once that
// answers again; the accepting side learns the endpoint from the remote's
// packets (roaming). Both sides probe every second and answer each
// other's probes, so the remote's state says up only while the data plane
// answers: degraded (reason data_plane) otherwise.
//
// Nothing depends on path MTU discovery, so a WAN that drops ICMP works:
// everything is sized from the configured path MTU (path_mtu, 1500 by
// default, at least 1280). The interface MTU is the path MTU less the
// largest overhead of the served transports; QUIC packets are the path MTU
// less the outer headers; the control channel's and the tls transport's
// sockets have TCP_MAXSEG set from it (package tcpmss). SYN segments
// forwarded through the interface (or sent by the gateway into it) have
// their MSS clamped to fit the interface MTU, and the gateway host's other
// TCP outside the tunnel (but over loopback) is clamped to fit the path.
// The rules live in one nftables table, inet intransit_<interface>,
// replaced at start and removed at stop.
//
// # Revocation
//
// The CRL is fetched every CRLRefresh; every second each running session's
// certificate is checked against it and against its expiry, and a session
// whose certificate is revoked or expired is closed with ReasonRevoked at
// once: the peer and its routes are removed within seconds.
package s2s
