package control

import (
	"fmt"
	"net/netip"
)

// Version is the protocol version this package speaks; it is the first byte
// of every frame.
const Version = 1

// Type identifies the message carried by a frame.
type Type uint8

// Message types. The numbers are part of the wire format and never change.
const (
	TypeHello         Type = 1
	TypeAssignment    Type = 2
	TypeRotatePropose Type = 3
	TypeRotateAnswer  Type = 4
	TypeRotateCommit  Type = 5
	TypeRotateAck     Type = 6
	TypePing          Type = 7
	TypePong          Type = 8
	TypeRefusal       Type = 9
	TypeClose         Type = 10
)

// String returns the message type's name, as used in errors and logs.
func (t Type) String() string {
	switch t {
	case TypeHello:
		return "hello"
	case TypeAssignment:
		return "assignment"
	case TypeRotatePropose:
		return "rotate-propose"
	case TypeRotateAnswer:
		return "rotate-answer"
	case TypeRotateCommit:
		return "rotate-commit"
	case TypeRotateAck:
		return "rotate-ack"
	case TypePing:
		return "ping"
	case TypePong:
		return "pong"
	case TypeRefusal:
		return "refusal"
	case TypeClose:
		return "close"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Message is one control-channel message: one of *Hello, *Assignment,
// *RotatePropose, *RotateAnswer, *RotateCommit, *RotateAck, *Ping, *Pong,
// *Refusal, *Close.
type Message interface {
	// Type returns the message's wire type.
	Type() Type
	encode(w *writer)
	decode(r *reader)
}

// Kind is the role a peer plays in the deployment.
type Kind uint8

// Peer kinds. A gateway serves sites and laptops; a client is a laptop
// connecting point-to-site and never accepts control connections.
const (
	KindGateway Kind = 1
	KindClient  Kind = 2
)

// String returns "gateway" or "client".
func (k Kind) String() string {
	switch k {
	case KindGateway:
		return "gateway"
	case KindClient:
		return "client"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Transport is one way to reach a peer's data plane.
type Transport struct {
	// Name is the transport ("udp", "quic", "tls"), at most 16 bytes of
	// lower-case letters and digits.
	Name string
	// Endpoint is where the transport listens: a specific address (never
	// unspecified) and a port other than 0.
	Endpoint netip.AddrPort
}

// Hello opens a session in each direction. The certificate identity is the
// TLS peer certificate; Hello adds what the certificate does not say.
type Hello struct {
	// Kind is the sender's role.
	Kind Kind
	// WireGuardKey is the sender's WireGuard static public key.
	WireGuardKey [32]byte
	// KeySignature is the sender's signature, made with its certificate
	// key, over the TLS exporter and WireGuardKey (see binding.go).
	KeySignature []byte
	// Prefixes are the site prefixes the sender offers to route to.
	Prefixes []netip.Prefix
	// Transports lists the sender's data-plane endpoints in order of
	// preference.
	Transports []Transport
}

// Assignment is sent by a gateway to a point-to-site client right after its
// Hello: what the client configures on its tunnel while connected.
type Assignment struct {
	// Addresses are the client's tunnel addresses (at most one per family).
	Addresses []netip.Addr
	// Routes are the prefixes the client sends into the tunnel.
	Routes []netip.Prefix
	// DNSServers are the resolvers the client uses while connected.
	DNSServers []netip.Addr
	// SearchDomains are the DNS search domains the client uses.
	SearchDomains []string
}

// RotatePropose starts a PSK rotation: a fresh X-Wing encapsulation key.
type RotatePropose struct {
	// Epoch numbers the rotation; it starts at 1 and grows by one.
	Epoch uint64
	// EncapsulationKey is the proposer's X-Wing key (pqpsk.EncapsulationKeySize).
	EncapsulationKey []byte
}

// RotateAnswer answers a proposal with the KEM ciphertext.
type RotateAnswer struct {
	// Epoch repeats the proposal's epoch.
	Epoch uint64
	// Ciphertext is the X-Wing ciphertext (pqpsk.CiphertextSize).
	Ciphertext []byte
	// Confirmation proves the accepter derived the PSK.
	Confirmation []byte
}

// RotateCommit tells the accepter that the proposer derived the same PSK and
// installed it; the accepter installs it on receipt.
type RotateCommit struct {
	// Epoch repeats the proposal's epoch.
	Epoch uint64
	// Confirmation proves the proposer derived the PSK.
	Confirmation []byte
}

// RotateAck tells the proposer that the accepter installed the PSK.
type RotateAck struct {
	// Epoch repeats the proposal's epoch.
	Epoch uint64
}

// Ping asks the peer for a Pong; it proves the sender is alive.
type Ping struct {
	// Seq is echoed in the Pong.
	Seq uint64
}

// Pong answers a Ping.
type Pong struct {
	// Seq is the Ping's sequence number.
	Seq uint64
}

// Refusal ends a session because of an error or a policy decision.
type Refusal struct {
	// Reason is the stable code.
	Reason Reason
	// Detail says what exactly was wrong, for logs (at most 512 bytes).
	Detail string
}

// Close ends a session in order.
type Close struct {
	// Reason is the stable code (shutdown, revoked, removed, ...).
	Reason Reason
	// Detail says more, for logs (at most 512 bytes).
	Detail string
}

// Type implements Message.
func (*Hello) Type() Type { return TypeHello }

// Type implements Message.
func (*Assignment) Type() Type { return TypeAssignment }

// Type implements Message.
func (*RotatePropose) Type() Type { return TypeRotatePropose }

// Type implements Message.
func (*RotateAnswer) Type() Type { return TypeRotateAnswer }

// Type implements Message.
func (*RotateCommit) Type() Type { return TypeRotateCommit }

// Type implements Message.
func (*RotateAck) Type() Type { return TypeRotateAck }

// Type implements Message.
func (*Ping) Type() Type { return TypePing }

// Type implements Message.
func (*Pong) Type() Type { return TypePong }

// Type implements Message.
func (*Refusal) Type() Type { return TypeRefusal }

// Type implements Message.
func (*Close) Type() Type { return TypeClose }

func newMessage(t Type) Message {
	switch t {
	case TypeHello:
		return &Hello{}
	case TypeAssignment:
		return &Assignment{}
	case TypeRotatePropose:
		return &RotatePropose{}
	case TypeRotateAnswer:
		return &RotateAnswer{}
	case TypeRotateCommit:
		return &RotateCommit{}
	case TypeRotateAck:
		return &RotateAck{}
	case TypePing:
		return &Ping{}
	case TypePong:
		return &Pong{}
	case TypeRefusal:
		return &Refusal{}
	case TypeClose:
		return &Close{}
	}
	return nil
}

// Reason is the stable code of a refusal or close. The numbers are part of
// the wire format; the names appear in logs and status and never change.
type Reason uint16

// Reasons. New codes may be added; existing ones never change meaning.
const (
	// ReasonProtocol: a malformed message or a broken framing.
	ReasonProtocol Reason = 1
	// ReasonVersion: the peer speaks a protocol version we do not.
	ReasonVersion Reason = 2
	// ReasonUnexpected: a well-formed message at the wrong time.
	ReasonUnexpected Reason = 3
	// ReasonKeyBinding: the WireGuard key signature does not verify
	// against the peer's certificate and this TLS session.
	ReasonKeyBinding Reason = 4
	// ReasonIdentity: the peer's identity or kind is not admitted.
	ReasonIdentity Reason = 5
	// ReasonPrefixes: the peer's prefixes are invalid or conflict.
	ReasonPrefixes Reason = 6
	// ReasonRotation: a PSK rotation failed (key confirmation, epoch).
	ReasonRotation Reason = 7
	// ReasonPoolExhausted: no tunnel address is left for a client.
	ReasonPoolExhausted Reason = 8
	// ReasonRevoked: the peer's certificate has been revoked.
	ReasonRevoked Reason = 9
	// ReasonShutdown: the sender is stopping.
	ReasonShutdown Reason = 10
	// ReasonRemoved: the peer was removed from the sender's configuration.
	ReasonRemoved Reason = 11
	// ReasonTimeout: the peer did not answer in time.
	ReasonTimeout Reason = 12
	// ReasonInternal: the sender failed for a reason of its own.
	ReasonInternal Reason = 13
	// ReasonKeyInUse: the peer's WireGuard key is bound to another client,
	// remote gateway or static device of the sender.
	ReasonKeyInUse Reason = 14
	// ReasonStoreUnreachable: the sender cannot reach the shared store it
	// records its state in, so it admits no new peer (another gateway on
	// the store may).
	ReasonStoreUnreachable Reason = 15
)

// Valid reports whether r is a known reason.
func (r Reason) Valid() bool { return r.name() != "" }

// String returns the stable name of the reason.
func (r Reason) String() string {
	if n := r.name(); n != "" {
		return n
	}
	return fmt.Sprintf("reason(%d)", uint16(r))
}

func (r Reason) name() string {
	switch r {
	case ReasonProtocol:
		return "protocol"
	case ReasonVersion:
		return "version"
	case ReasonUnexpected:
		return "unexpected_message"
	case ReasonKeyBinding:
		return "key_binding"
	case ReasonIdentity:
		return "identity"
	case ReasonPrefixes:
		return "prefixes"
	case ReasonRotation:
		return "rotation"
	case ReasonPoolExhausted:
		return "pool_exhausted"
	case ReasonRevoked:
		return "revoked"
	case ReasonShutdown:
		return "shutdown"
	case ReasonRemoved:
		return "removed"
	case ReasonTimeout:
		return "timeout"
	case ReasonInternal:
		return "internal"
	case ReasonKeyInUse:
		return "key_in_use"
	case ReasonStoreUnreachable:
		return "store_unreachable"
	}
	return ""
}
