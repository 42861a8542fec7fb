package tlspolicy

import (
	"errors"
	"fmt"
)

// Reason is the stable code of a refusal, used in logs and as a metric label.
// Codes never change meaning; new ones may be added.
type Reason string

// Refusal reasons.
const (
	// ReasonVersion: no protocol version allowed by the profile was offered
	// or negotiated.
	ReasonVersion Reason = "version"
	// ReasonCipherSuite: no allowed cipher suite was offered or negotiated.
	ReasonCipherSuite Reason = "cipher_suite"
	// ReasonGroup: no allowed key exchange group was offered or negotiated.
	ReasonGroup Reason = "group"
	// ReasonPeerKey: the peer's certificate key type or size is not allowed.
	ReasonPeerKey Reason = "peer_key"
	// ReasonSignature: a certificate of the peer's chain is signed with an
	// algorithm the profile does not allow.
	ReasonSignature Reason = "signature"
	// ReasonNoCertificate: the peer presented no certificate where one is
	// required.
	ReasonNoCertificate Reason = "no_certificate"
	// ReasonChain: the peer's chain does not verify against the trusted CAs
	// (unknown CA, wrong usage, wrong name).
	ReasonChain Reason = "chain"
	// ReasonExpired: a certificate of the peer's chain is expired (or not
	// yet valid); the same word names a running session cut at its peer
	// certificate's expiry.
	ReasonExpired Reason = "expired"
	// ReasonRevoked: a certificate of the peer's chain is on the CRL.
	ReasonRevoked Reason = "revoked"
	// ReasonRevocationUnknown: the CRL is past its next update and could not
	// be refreshed, so revocation cannot be decided.
	ReasonRevocationUnknown Reason = "revocation_unknown"
	// ReasonIdentity: the peer's identity is not on the allow-lists.
	ReasonIdentity Reason = "identity"
	// ReasonPlaintext: the peer spoke plaintext to a TLS listener.
	ReasonPlaintext Reason = "plaintext"
	// ReasonHandshake: the handshake failed for another reason (malformed
	// messages, a peer that went away, a timeout).
	ReasonHandshake Reason = "handshake"
)

// Refusal is the error returned when a connection breaks the policy.
type Refusal struct {
	// Reason is the stable code.
	Reason Reason
	// Err says what exactly was wrong.
	Err error
}

// Error formats the refusal with its reason code.
func (r *Refusal) Error() string { return fmt.Sprintf("refused (%s): %v", r.Reason, r.Err) }

// Unwrap returns the detailed error and the TLS alert the peer is sent
// (a QUIC handshake reports that alert to the peer).
func (r *Refusal) Unwrap() []error { return []error{r.Err, r.Alert()} }

func refuse(reason Reason, format string, args ...any) *Refusal {
	return &Refusal{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// ReasonOf returns the refusal reason carried by err, or ReasonHandshake when
// err is not a policy refusal.
func ReasonOf(err error) Reason {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Reason
	}
	return ReasonHandshake
}

// IsRefusal reports whether err is a policy refusal.
func IsRefusal(err error) bool {
	var r *Refusal
	return errors.As(err, &r)
}
