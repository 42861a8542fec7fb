package tlspolicy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
)

// TLS alert descriptions a refusal is sent with (RFC 8446 section 6.2).
const (
	alertHandshakeFailure     tls.AlertError = 40
	alertBadCertificate       tls.AlertError = 42
	alertCertificateRevoked   tls.AlertError = 44
	alertCertificateExpired   tls.AlertError = 45
	alertCertificateUnknown   tls.AlertError = 46
	alertUnknownCA            tls.AlertError = 48
	alertAccessDenied         tls.AlertError = 49
	alertProtocolVersion      tls.AlertError = 70
	alertInsufficientSecurity tls.AlertError = 71
	alertInternalError        tls.AlertError = 80
)

// Alert returns the TLS alert the peer is told a refusal with: the one TLS
// itself sends for the same failure, so that a client prints the real
// reason ("protocol version", "handshake failure", "unknown ca") rather
// than "internal error".
func (r *Refusal) Alert() tls.AlertError {
	switch r.Reason {
	case ReasonVersion:
		return alertProtocolVersion
	case ReasonCipherSuite:
		return alertHandshakeFailure
	case ReasonGroup:
		// The client's groups are all weaker than (or other than) what the
		// profile requires: RFC 8446 names this insufficient_security.
		return alertInsufficientSecurity
	case ReasonNoCertificate:
		return alertHandshakeFailure
	case ReasonPeerKey, ReasonSignature:
		return alertBadCertificate
	case ReasonChain:
		var unknown x509.UnknownAuthorityError
		if errors.As(r.Err, &unknown) {
			return alertUnknownCA
		}
		return alertBadCertificate
	case ReasonExpired:
		return alertCertificateExpired
	case ReasonRevoked:
		return alertCertificateRevoked
	case ReasonRevocationUnknown:
		return alertCertificateUnknown
	case ReasonIdentity:
		return alertAccessDenied
	}
	return alertInternalError
}

// sendAlert writes r's fatal alert as a plaintext TLS record straight onto
// the connection under a server's tls.Conn, then closes its write half when
// it can, so that the internal_error or bad_certificate crypto/tls sends for
// every callback error never reaches the peer. crypto/tls does not let a
// GetConfigForClient or VerifyConnection callback choose the alert; writing
// the record is sound only while the server's write side is still in
// plaintext: before its ServerHello, or up to its ChangeCipherSpec in TLS
// 1.2. version is the negotiated version, 0 before the ServerHello. A nil
// conn (QUIC, where the error's wrapped tls.AlertError is used instead)
// sends nothing.
func sendAlert(conn net.Conn, version uint16, r *Refusal) {
	if conn == nil {
		return
	}
	// The record version crypto/tls uses too: TLS 1.0 before a version is
	// agreed.
	if version == 0 {
		version = tls.VersionTLS10
	}
	const recordTypeAlert, levelFatal = 21, 2
	record := []byte{recordTypeAlert, byte(version >> 8), byte(version), 0, 2, levelFatal, byte(r.Alert())}
	if _, err := conn.Write(record); err != nil {
		return
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}
