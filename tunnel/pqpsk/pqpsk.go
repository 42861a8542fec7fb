// Package pqpsk derives the WireGuard pre-shared keys of intransit tunnels
// from a hybrid post-quantum KEM and the TLS session of the control channel.
//
// # Protocol
//
// One rotation, numbered by its epoch, runs inside an established TLS 1.3
// mTLS control session:
//
//  1. The proposer generates a fresh X-Wing key pair (ML-KEM-768 + X25519,
//     [Propose]) and sends the 1216-byte encapsulation key with the epoch.
//  2. The accepter encapsulates to it ([Accept]), obtaining a 32-byte shared
//     secret and a 1120-byte ciphertext, which it sends back.
//  3. The proposer decapsulates ([Proposal.Finish]) and erases its private key.
//
// Both ends then compute, with HKDF-SHA256 (RFC 5869):
//
//	E   = TLS-Exporter(ExporterLabel, context = epoch as 8 bytes big-endian, 32)
//	PRK = HKDF-Extract(salt = "intransit/pqpsk/v1", IKM = ss_xwing || E)
//	T   = "intransit/pqpsk/v1" || epoch(8) || SHA-256(ek) || SHA-256(ct)
//	PSK = HKDF-Expand(PRK, T || "wireguard-psk", 32)
//	K_c = HKDF-Expand(PRK, T || "key-confirmation", 32)
//
// and prove to each other that they hold the same secret with
// HMAC-SHA256(K_c, role || epoch) tags ([Secret.Confirmation]) before either
// installs the PSK. The labels give domain separation from every other use of
// the exporter and of the KEM secret; the epoch and the transcript hash bind
// the PSK to exactly this rotation of exactly this TLS session.
//
// # Why it is safe
//
// Both inputs are fixed-length and concatenated into HKDF-Extract's input
// keying material, so the PRK is pseudorandom as long as either one is
// secret: the same combiner, and the same argument (HKDF-Extract as a
// randomness extractor / random oracle), as the TLS 1.3 hybrid key exchange
// of draft-ietf-tls-hybrid-design, which concatenates its two shared
// secrets the same way.
//
//   - ss_xwing is secret if either ML-KEM-768 or X25519 holds (X-Wing's
//     combiner hashes both shared secrets together with the X25519 ciphertext
//     and public key).
//   - E is secret if the TLS 1.3 key exchange holds; the control channel uses
//     the tlspolicy "pq" profile, itself a hybrid (X25519MLKEM768), and the
//     exporter is authenticated by both certificates.
//
// A classical attacker who breaks ML-KEM still faces X25519 (twice). A
// quantum attacker who records all traffic today and later breaks X25519
// and the WireGuard Curve25519 handshake still needs ss_xwing, protected by
// ML-KEM-768; and the X-Wing ciphertext is carried inside the TLS session, so
// it must break TLS first to even see it. WireGuard mixes the PSK into every
// session key (Noise IKpsk2), so recorded data-plane traffic stays
// confidential. The X-Wing private key lives for one rotation only and is
// erased after decapsulation, so a later compromise of a gateway does not
// reveal the PSKs of past rotations (forward secrecy).
package pqpsk

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/cloudflare/circl/kem/xwing"
)

// ExporterLabel is the TLS exporter label (RFC 8446 section 7.5) used to mix
// the control session into every PSK. No other part of intransit uses it.
const ExporterLabel = "EXPORTER-intransit-wireguard-psk-v1"

// Sizes of the values exchanged in one rotation, in bytes.
const (
	// Size is the size of a WireGuard pre-shared key.
	Size = 32
	// EncapsulationKeySize is the size of an X-Wing encapsulation key.
	EncapsulationKeySize = xwing.PublicKeySize
	// CiphertextSize is the size of an X-Wing ciphertext.
	CiphertextSize = xwing.CiphertextSize
	// ConfirmationSize is the size of a key-confirmation tag.
	ConfirmationSize = sha256.Size
)

const domain = "intransit/pqpsk/v1"

// PSK is a WireGuard pre-shared key. Its String and LogValue methods never
// reveal the key; use Hex or Base64 to hand it to WireGuard.
type PSK [Size]byte

// String returns a non-secret fingerprint of the key, for logs.
func (p PSK) String() string { return "psk:" + p.ID() }

// LogValue makes slog print the fingerprint, never the key.
func (p PSK) LogValue() slog.Value { return slog.StringValue(p.String()) }

// ID returns a short non-secret fingerprint (8 bytes of a domain-separated
// SHA-256, hex) that lets two ends compare keys without revealing them.
func (p PSK) ID() string {
	h := sha256.New()
	h.Write([]byte(domain + "/fingerprint"))
	h.Write(p[:])
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Hex returns the key in the hex form of the WireGuard UAPI (preshared_key=).
func (p PSK) Hex() string { return hex.EncodeToString(p[:]) }

// Base64 returns the key in the base64 form of wg(8) and wg-quick.
func (p PSK) Base64() string { return base64.StdEncoding.EncodeToString(p[:]) }

// Exporter is the part of a TLS session that pqpsk needs: RFC 8446 keying
// material export. *tls.ConnectionState implements it.
type Exporter interface {
	ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error)
}

// Role tells which end of a rotation computes or checks a confirmation tag.
type Role byte

// The two roles of a rotation.
const (
	Proposer Role = 1
	Accepter Role = 2
)

// String returns "proposer" or "accepter".
func (r Role) String() string {
	switch r {
	case Proposer:
		return "proposer"
	case Accepter:
		return "accepter"
	}
	return fmt.Sprintf("role(%d)", byte(r))
}

// ErrConfirmation means the two ends did not derive the same secret: the
// ciphertext, the encapsulation key or the TLS session differ.
var ErrConfirmation = errors.New("pqpsk: key confirmation failed: the two ends derived different keys")

// Secret is the outcome of one rotation: the PSK and the key that proves
// both ends derived it.
type Secret struct {
	epoch   uint64
	psk     PSK
	confirm [32]byte
}

// Epoch returns the rotation epoch the secret belongs to.
func (s *Secret) Epoch() uint64 { return s.epoch }

// PSK returns the WireGuard pre-shared key.
func (s *Secret) PSK() PSK { return s.psk }

// Confirmation returns the key-confirmation tag that the end playing role
// sends to the other.
func (s *Secret) Confirmation(role Role) []byte {
	m := hmac.New(sha256.New, s.confirm[:])
	var msg [9]byte
	msg[0] = byte(role)
	binary.BigEndian.PutUint64(msg[1:], s.epoch)
	m.Write(msg[:])
	return m.Sum(nil)
}

// VerifyConfirmation checks a tag received from the end playing role.
func (s *Secret) VerifyConfirmation(role Role, tag []byte) error {
	if subtle.ConstantTimeCompare(s.Confirmation(role), tag) != 1 {
		return fmt.Errorf("epoch %d, %s tag: %w", s.epoch, role, ErrConfirmation)
	}
	return nil
}

// Proposal is the proposer's half of a rotation: a fresh X-Wing key pair.
// It is used once; Finish erases the private key.
type Proposal struct {
	seed []byte
	ek   []byte
}

// Propose generates a fresh X-Wing key pair with randomness from rnd
// (crypto/rand when nil).
func Propose(rnd io.Reader) (*Proposal, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	sk, pk, err := xwing.GenerateKeyPairPacked(rnd)
	if err != nil {
		return nil, fmt.Errorf("pqpsk: generate X-Wing key pair: %w", err)
	}
	return &Proposal{seed: sk, ek: pk}, nil
}

// EncapsulationKey returns the X-Wing encapsulation key to send to the
// accepter.
func (p *Proposal) EncapsulationKey() []byte { return append([]byte(nil), p.ek...) }

// Discard erases the private key of a proposal that will not be finished
// (the session ended mid-rotation).
func (p *Proposal) Discard() {
	clear(p.seed)
	p.seed = nil
}

// Finish decapsulates the accepter's ciphertext, erases the private key and
// derives the rotation's secret. A Proposal can be finished only once.
func (p *Proposal) Finish(ex Exporter, epoch uint64, ct []byte) (*Secret, error) {
	if p.seed == nil {
		return nil, errors.New("pqpsk: proposal already finished")
	}
	if len(ct) != CiphertextSize {
		return nil, fmt.Errorf("pqpsk: ciphertext is %d bytes, want %d", len(ct), CiphertextSize)
	}
	ss := xwing.Decapsulate(ct, p.seed)
	p.Discard()
	defer clear(ss)
	return derive(ex, epoch, ss, p.ek, ct)
}

// Accept encapsulates to the proposer's encapsulation key with randomness
// from rnd (crypto/rand when nil) and derives the rotation's secret. It
// returns the ciphertext to send back.
func Accept(rnd io.Reader, ex Exporter, epoch uint64, ek []byte) (ct []byte, s *Secret, err error) {
	if len(ek) != EncapsulationKeySize {
		return nil, nil, fmt.Errorf("pqpsk: encapsulation key is %d bytes, want %d", len(ek), EncapsulationKeySize)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	seed := make([]byte, xwing.EncapsulationSeedSize)
	defer clear(seed)
	if _, err := io.ReadFull(rnd, seed); err != nil {
		return nil, nil, fmt.Errorf("pqpsk: read encapsulation randomness: %w", err)
	}
	ss, ct, err := xwing.Encapsulate(ek, seed)
	if err != nil {
		return nil, nil, fmt.Errorf("pqpsk: encapsulate to the proposed key: %w", err)
	}
	defer clear(ss)
	s, err = derive(ex, epoch, ss, ek, ct)
	if err != nil {
		return nil, nil, err
	}
	return ct, s, nil
}

// derive mixes the KEM secret with the TLS exporter of this epoch.
func derive(ex Exporter, epoch uint64, ss, ek, ct []byte) (*Secret, error) {
	var ctxt [8]byte
	binary.BigEndian.PutUint64(ctxt[:], epoch)
	exp, err := ex.ExportKeyingMaterial(ExporterLabel, ctxt[:], 32)
	if err != nil {
		return nil, fmt.Errorf("pqpsk: export keying material from the TLS session: %w", err)
	}
	defer clear(exp)
	return deriveFrom(epoch, ss, exp, ek, ct)
}

// deriveFrom is the key schedule of the package comment, on raw inputs.
func deriveFrom(epoch uint64, ss, exp, ek, ct []byte) (*Secret, error) {
	ikm := make([]byte, 0, len(ss)+len(exp))
	ikm = append(append(ikm, ss...), exp...)
	defer clear(ikm)
	prk, err := hkdf.Extract(sha256.New, ikm, []byte(domain))
	if err != nil {
		return nil, fmt.Errorf("pqpsk: HKDF-Extract: %w", err)
	}
	defer clear(prk)
	info := transcript(epoch, ek, ct)
	s := &Secret{epoch: epoch}
	psk, err := hkdf.Expand(sha256.New, prk, info+"wireguard-psk", Size)
	if err != nil {
		return nil, fmt.Errorf("pqpsk: HKDF-Expand PSK: %w", err)
	}
	copy(s.psk[:], psk)
	clear(psk)
	kc, err := hkdf.Expand(sha256.New, prk, info+"key-confirmation", len(s.confirm))
	if err != nil {
		return nil, fmt.Errorf("pqpsk: HKDF-Expand confirmation key: %w", err)
	}
	copy(s.confirm[:], kc)
	clear(kc)
	return s, nil
}

func transcript(epoch uint64, ek, ct []byte) string {
	b := make([]byte, 0, len(domain)+8+2*sha256.Size)
	b = append(b, domain...)
	b = binary.BigEndian.AppendUint64(b, epoch)
	hek := sha256.Sum256(ek)
	hct := sha256.Sum256(ct)
	b = append(b, hek[:]...)
	b = append(b, hct[:]...)
	return string(b)
}
