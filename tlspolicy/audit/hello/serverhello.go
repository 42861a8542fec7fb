package hello

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// ServerHello is what a server chose, read from its ServerHello or
// HelloRetryRequest.
type ServerHello struct {
	// Version is the legacy version field (0x0303 for TLS 1.3).
	Version uint16
	// Random is the server random.
	Random [32]byte
	// SessionID is echoed or fresh.
	SessionID []byte
	// CipherSuite is the chosen suite.
	CipherSuite uint16
	// CompressionMethod is the chosen compression (0 null, 1 DEFLATE).
	CompressionMethod uint8
	// Extensions lists the extension types present, in order.
	Extensions []uint16
	// SupportedVersion is the version from supported_versions, 0 if absent.
	SupportedVersion uint16
	// KeyShareGroup is the group of the key_share extension (the server's
	// share, or for a HelloRetryRequest the group it asks for), 0 if absent.
	KeyShareGroup uint16
	// SecureRenegotiation reports a renegotiation_info extension.
	SecureRenegotiation bool
	// StatusRequest reports a status_request extension (TLS 1.2: a
	// CertificateStatus message follows).
	StatusRequest bool
	// HelloRetryRequest reports that this is a HelloRetryRequest.
	HelloRetryRequest bool
}

// NegotiatedVersion is the version the server chose: supported_versions if
// present, else the legacy field.
func (s *ServerHello) NegotiatedVersion() uint16 {
	if s.SupportedVersion != 0 {
		return s.SupportedVersion
	}
	return s.Version
}

// helloRetryRandom is the special ServerHello.random of a HelloRetryRequest
// (RFC 8446 section 4.1.3): SHA-256 of "HelloRetryRequest".
func helloRetryRandom() [32]byte { return sha256.Sum256([]byte("HelloRetryRequest")) }

// ParseServerHello parses the body of a ServerHello handshake message.
func ParseServerHello(body []byte) (*ServerHello, error) {
	s := &ServerHello{}
	in := cryptobyte.String(body)
	var random, sid []byte
	if !in.ReadUint16(&s.Version) || !in.ReadBytes(&random, 32) ||
		!in.ReadUint8LengthPrefixed((*cryptobyte.String)(&sid)) ||
		!in.ReadUint16(&s.CipherSuite) || !in.ReadUint8(&s.CompressionMethod) {
		return nil, errors.New("server hello: truncated fixed fields")
	}
	if s.Version>>8 != 3 {
		return nil, fmt.Errorf("server hello: version 0x%04x is not SSL 3.0 or TLS", s.Version)
	}
	if len(sid) > 32 {
		return nil, fmt.Errorf("server hello: session id of %d bytes is longer than 32", len(sid))
	}
	copy(s.Random[:], random)
	s.SessionID = append([]byte(nil), sid...)
	hrr := helloRetryRandom()
	s.HelloRetryRequest = bytes.Equal(random, hrr[:])
	if in.Empty() {
		return s, nil
	}
	var exts cryptobyte.String
	if !in.ReadUint16LengthPrefixed(&exts) || !in.Empty() {
		return nil, fmt.Errorf("server hello: malformed extension block")
	}
	seen := map[uint16]bool{}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return nil, fmt.Errorf("server hello: malformed extension")
		}
		if seen[typ] {
			return nil, fmt.Errorf("server hello: extension %d sent twice", typ)
		}
		seen[typ] = true
		s.Extensions = append(s.Extensions, typ)
		if err := s.parseExtension(typ, data); err != nil {
			return nil, fmt.Errorf("server hello: %w", err)
		}
	}
	return s, nil
}

func (s *ServerHello) parseExtension(typ uint16, data cryptobyte.String) error {
	switch typ {
	case extSupportedVersions:
		if !data.ReadUint16(&s.SupportedVersion) || !data.Empty() {
			return errors.New("malformed supported_versions")
		}
	case extKeyShare:
		if !data.ReadUint16(&s.KeyShareGroup) {
			return errors.New("malformed key_share")
		}
		if !s.HelloRetryRequest {
			var key cryptobyte.String
			if !data.ReadUint16LengthPrefixed(&key) || len(key) == 0 {
				return errors.New("malformed key_share")
			}
		}
		if !data.Empty() {
			return errors.New("malformed key_share")
		}
	case extRenegotiationInfo:
		var info cryptobyte.String
		if !data.ReadUint8LengthPrefixed(&info) || !data.Empty() {
			return errors.New("malformed renegotiation_info")
		}
		s.SecureRenegotiation = true
	case extStatusRequest:
		s.StatusRequest = true
	}
	return nil
}

// ParseCertificate parses a TLS 1.2-or-earlier Certificate message body into
// the DER certificates it carries, leaf first as sent.
func ParseCertificate(body []byte) ([][]byte, error) {
	in := cryptobyte.String(body)
	var list cryptobyte.String
	if !in.ReadUint24LengthPrefixed(&list) || !in.Empty() {
		return nil, fmt.Errorf("certificate: malformed list")
	}
	var certs [][]byte
	for !list.Empty() {
		var der cryptobyte.String
		if !list.ReadUint24LengthPrefixed(&der) || len(der) == 0 {
			return nil, fmt.Errorf("certificate: malformed entry %d", len(certs))
		}
		certs = append(certs, append([]byte(nil), der...))
	}
	return certs, nil
}

// ParseCertificateStatus parses a CertificateStatus message body and returns
// the DER OCSP response.
func ParseCertificateStatus(body []byte) ([]byte, error) {
	in := cryptobyte.String(body)
	var typ uint8
	var resp cryptobyte.String
	if !in.ReadUint8(&typ) || typ != 1 || !in.ReadUint24LengthPrefixed(&resp) || !in.Empty() || len(resp) == 0 {
		return nil, fmt.Errorf("certificate status: malformed or not OCSP")
	}
	return append([]byte(nil), resp...), nil
}

// ParseECDHEKeyExchange returns the named group of an ECDHE
// ServerKeyExchange message body.
func ParseECDHEKeyExchange(body []byte) (uint16, error) {
	in := cryptobyte.String(body)
	var curveType uint8
	var group uint16
	var point cryptobyte.String
	if !in.ReadUint8(&curveType) || !in.ReadUint16(&group) || !in.ReadUint8LengthPrefixed(&point) {
		return 0, fmt.Errorf("server key exchange: truncated ECDHE parameters")
	}
	if curveType != 3 {
		return 0, fmt.Errorf("server key exchange: curve type %d is not named_curve", curveType)
	}
	return group, nil
}

// ParseDHEKeyExchange returns the size in bits of the prime of a finite-field
// DHE ServerKeyExchange message body.
func ParseDHEKeyExchange(body []byte) (int, error) {
	in := cryptobyte.String(body)
	var p, g, y cryptobyte.String
	if !in.ReadUint16LengthPrefixed(&p) || !in.ReadUint16LengthPrefixed(&g) || !in.ReadUint16LengthPrefixed(&y) || len(p) == 0 {
		return 0, fmt.Errorf("server key exchange: truncated DHE parameters")
	}
	for len(p) > 0 && p[0] == 0 {
		p = p[1:]
	}
	if len(p) == 0 {
		return 0, fmt.Errorf("server key exchange: DHE prime is zero")
	}
	bits := len(p) * 8
	for top := p[0]; top&0x80 == 0; top <<= 1 {
		bits--
	}
	return bits, nil
}
