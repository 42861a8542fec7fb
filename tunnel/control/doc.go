// Package control is the control channel between intransit peers: the
// messages gateways and clients exchange over a TLS 1.3 mTLS connection, and
// the Session that runs them.
//
// # Session
//
// The initiator (the end that dialed) sends its Hello, the responder (always
// a gateway) verifies it, admits the peer and answers with its own Hello,
// followed for a point-to-site client by an Assignment (tunnel addresses,
// routes, DNS servers and search domains; the gateway's tunnel key is the
// WireGuardKey of its Hello). Identity comes from the TLS certificates,
// checked by the tls.Config (tlspolicy's control configs, "pq" profile). The
// WireGuard static key travels inside the mTLS session, which binds it to
// the certificate for the peer; it is also signed with the certificate key
// over a TLS exporter value (BindingExporterLabel), the signer's role and
// kind, so the binding can be checked by itself and cannot be replayed in
// another session or reflected back.
//
// Each end then routes toward the peer only what Agree allows: the
// intersection of what the peer offers with what the local configuration
// allows that peer, never a local site prefix.
//
// # PSK rotation
//
// Right after the Hellos, and then every RotationPeriod (2 minutes by
// default), the initiator runs a rotation (see package pqpsk):
//
//	initiator                                responder
//	rotate-propose{epoch, X-Wing key}  ->
//	                                   <-    rotate-answer{epoch, ciphertext, tag_R}
//	verify tag_R, install PSK
//	rotate-commit{epoch, tag_I}        ->
//	                                         verify tag_I, install PSK
//	                                   <-    rotate-ack{epoch}
//
// Neither end installs a key the other has not proved to hold. A rotation
// that stalls for DeadAfter, a wrong epoch or a failed confirmation ends the
// session; the daemon then reconnects and the new session's first rotation
// sets a fresh PSK on both ends.
//
// # Why a rotation never interrupts traffic
//
// In WireGuard (wireguard-go device/noise-protocol.go) the PSK enters only
// the handshake: the responder mixes it in when it creates a handshake
// response and the initiator when it consumes one. Data packets are
// encrypted with the keypairs of the last completed handshake, which stay
// valid until RejectAfterTime (180 s) whatever happens to the PSK; setting
// preshared_key over the UAPI only replaces the key under the handshake
// mutex. A new handshake is started by the initiator after RekeyAfterTime
// (120 s) or when the session is stale, and a failed one is retried every
// RekeyTimeout (5 s) for up to RekeyAttemptTime (90 s). So:
//
//   - Installing a new PSK never touches the current keypairs: packets keep
//     flowing on them.
//   - The two ends install one control-channel half round trip apart (the
//     proposer before sending rotate-commit, the accepter on receiving it).
//     Only a WireGuard handshake whose response is created and consumed
//     across that window can see two different PSKs; it then fails to
//     authenticate, is dropped, and is retried 5 s later with both keys
//     equal, while the current keypair (about 125 s old at that point,
//     valid until 180 s) still carries the traffic.
//   - The next regular handshake uses the new PSK on both ends, so every
//     data-plane session key after it depends on the post-quantum secret.
//
// # Keepalive and dead peers
//
// Every message counts as hearing from the peer, and so does authenticated
// data-plane traffic when Config.Liveness reports it (a gateway's session
// counts a client's in-tunnel probes, a client's the gateway's answers to
// them). An end pings a peer it has not heard from for a while: the
// initiator after KeepaliveInterval, the responder after halfway between
// KeepaliveInterval and DeadAfter, which an initiator's pings never let it
// reach; pings are answered with pongs. An idle session without a data
// plane thus carries a ping and a pong per KeepaliveInterval instead of two
// of each. Over a tunnel that carries traffic an end still pings once the
// control channel carried nothing for DeadAfter, since only an answer shows
// that the control connection works. A peer from which nothing arrives, on
// either channel, for DeadAfter ends the session with a *SessionError that
// wraps ErrDeadPeer; so does a ping that nothing on the control channel
// answers within DeadAfter, and a rotation step left unanswered for
// DeadAfter.
//
// # Ending a session
//
// A Refusal (an error or a policy decision) or a Close (shutdown, revoked,
// removed) with a stable Reason ends the session; Run returns it as a
// *SessionError, Remote when the peer sent it. A malformed frame, an unknown
// type or a message at the wrong time is refused with ReasonProtocol,
// ReasonVersion or ReasonUnexpected before the connection is closed.
//
// # Wire format
//
// Every message is one frame:
//
//	version  u8   protocol version, always Version (1)
//	type     u8   message type, numbered as below
//	length   u16  big-endian length of the body, at most MaxBodySize
//	body     length bytes, laid out per type as below
//
// Integers are big-endian. Within bodies:
//
//	addr      u8 family (4 or 6) then 4 or 16 bytes; never an IPv4-mapped
//	          IPv6 address, and never unspecified except in a prefix
//	prefix    addr then u8 bits; the prefix must be canonical (no host bits)
//	addrport  addr then u16 port (not 0)
//	str8      u8 length then bytes; str16: u16 length then bytes
//	list      count (u8 or u16, as noted) then the elements
//
//	1  hello       u8 kind (1 gateway, 2 client), [32] WireGuard key,
//	               u16-length signature (1..1024), u16-list of prefix
//	               (<=256), u8-list (<=16) of {str8 name ([a-z0-9]{1,16}),
//	               addrport}
//	2  assignment  u8-list of addr (1..2, one per family), u16-list of
//	               prefix (<=256), u8-list of addr (<=8), u8-list of str8
//	               DNS names (<=16; LDH labels of 1..63, 253 in all)
//	3  propose     u64 epoch (>=1), [1216] X-Wing encapsulation key
//	4  answer      u64 epoch (>=1), [1120] X-Wing ciphertext, [32] tag
//	5  commit      u64 epoch (>=1), [32] tag
//	6  ack         u64 epoch (>=1)
//	7  ping        u64 sequence
//	8  pong        u64 sequence
//	9  refusal     u16 reason (a known Reason), str16 detail (UTF-8, <=512)
//	10 close       as refusal
//
// Decoding is strict: an unknown version or type, a body longer than
// MaxBodySize, a field out of bounds, or a byte left over is an error, so
// that every frame has exactly one meaning and re-encoding a decoded
// message gives back the same bytes.
//
// A frame of another version is refused with ReasonVersion, in a version 1
// frame whose detail names the version this end speaks.
package control
