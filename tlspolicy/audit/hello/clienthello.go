// Package hello writes and reads the unencrypted start of a TLS handshake by
// hand: a ClientHello that can offer anything (SSL 3.0, TLS 1.0 to 1.3, any
// cipher suite code point, any group, compression), and parsers for what a
// server sends back in the clear (ServerHello, HelloRetryRequest, alerts, and
// for TLS 1.2 and earlier the Certificate, CertificateStatus and
// ServerKeyExchange messages). It never completes a handshake: it exists so
// that an audit can see what a server accepts, including things crypto/tls
// refuses to offer.
//
// Every parser takes untrusted bytes and returns an error, never panics.
package hello

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// Protocol versions on the wire.
const (
	VersionSSL30 uint16 = 0x0300
	VersionTLS10 uint16 = 0x0301
	VersionTLS11 uint16 = 0x0302
	VersionTLS12 uint16 = 0x0303
	VersionTLS13 uint16 = 0x0304
)

// Record content types.
const (
	recordChangeCipherSpec uint8 = 20
	recordAlert            uint8 = 21
	recordHandshake        uint8 = 22
	recordApplicationData  uint8 = 23
)

// Handshake message types.
const (
	TypeClientHello       uint8 = 1
	TypeServerHello       uint8 = 2
	TypeNewSessionTicket  uint8 = 4
	TypeCertificate       uint8 = 11
	TypeServerKeyExchange uint8 = 12
	TypeCertRequest       uint8 = 13
	TypeServerHelloDone   uint8 = 14
	TypeCertificateStatus uint8 = 22
)

// Extension code points used by the probes.
const (
	extServerName          uint16 = 0
	extStatusRequest       uint16 = 5
	extSupportedGroups     uint16 = 10
	extECPointFormats      uint16 = 11
	extSignatureAlgorithms uint16 = 13
	extExtendedMasterSec   uint16 = 23
	extSupportedVersions   uint16 = 43
	extKeyShare            uint16 = 51
	extRenegotiationInfo   uint16 = 0xff01
)

// Compression methods.
const (
	CompressionNull    uint8 = 0
	CompressionDeflate uint8 = 1
)

// SCSVRenegotiation is TLS_EMPTY_RENEGOTIATION_INFO_SCSV, the cipher suite
// value that asks for secure renegotiation where extensions cannot be sent.
const SCSVRenegotiation uint16 = 0x00FF

// KeyShare is one entry of the TLS 1.3 key_share extension.
type KeyShare struct {
	Group uint16
	Data  []byte
}

// ClientHello is a ClientHello as the probes want it: every field is sent as
// given, nothing is added behind the caller's back.
type ClientHello struct {
	// RecordVersion is the version in the record header (0x0301 for TLS, 0x0300
	// for SSL 3.0).
	RecordVersion uint16
	// Version is client_version (legacy_version for TLS 1.3).
	Version uint16
	// Random is the 32-byte client random.
	Random [32]byte
	// SessionID is sent as is (32 random bytes help TLS 1.3 middleboxes).
	SessionID []byte
	// CipherSuites are offered in this order.
	CipherSuites []uint16
	// CompressionMethods are offered in this order; nil sends only null.
	CompressionMethods []uint8
	// NoExtensions sends no extension block at all (SSL 3.0 style).
	NoExtensions bool
	// ServerName is sent in server_name when not empty.
	ServerName string
	// Groups is sent in supported_groups when not empty.
	Groups []uint16
	// PointFormats sends ec_point_formats (uncompressed).
	PointFormats bool
	// SignatureSchemes is sent in signature_algorithms when not empty.
	SignatureSchemes []uint16
	// SupportedVersions is sent in supported_versions when not empty.
	SupportedVersions []uint16
	// KeyShares is sent in key_share; the extension is sent (possibly empty)
	// whenever SupportedVersions lists TLS 1.3.
	KeyShares []KeyShare
	// RenegotiationInfo sends an empty renegotiation_info extension.
	RenegotiationInfo bool
	// StatusRequest asks for an OCSP staple (status_request, type ocsp).
	StatusRequest bool
	// ExtendedMasterSecret sends extended_master_secret.
	ExtendedMasterSecret bool
}

// Marshal returns the handshake message (type, length, body), without the
// record header.
func (c *ClientHello) Marshal() ([]byte, error) {
	if len(c.SessionID) > 32 {
		return nil, fmt.Errorf("client hello: session id of %d bytes is longer than 32", len(c.SessionID))
	}
	if len(c.CipherSuites) == 0 {
		return nil, errors.New("client hello: no cipher suite to offer")
	}
	comp := c.CompressionMethods
	if len(comp) == 0 {
		comp = []uint8{CompressionNull}
	}
	var b cryptobyte.Builder
	b.AddUint8(TypeClientHello)
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint16(c.Version)
		b.AddBytes(c.Random[:])
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(c.SessionID) })
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, s := range c.CipherSuites {
				b.AddUint16(s)
			}
		})
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(comp) })
		if c.NoExtensions {
			return
		}
		b.AddUint16LengthPrefixed(c.addExtensions)
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("client hello: %w", err)
	}
	return out, nil
}

func (c *ClientHello) addExtensions(b *cryptobyte.Builder) {
	ext := func(typ uint16, body func(*cryptobyte.Builder)) {
		b.AddUint16(typ)
		b.AddUint16LengthPrefixed(body)
	}
	if c.ServerName != "" {
		ext(extServerName, func(b *cryptobyte.Builder) {
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
				b.AddUint8(0) // host_name
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(c.ServerName)) })
			})
		})
	}
	if c.StatusRequest {
		ext(extStatusRequest, func(b *cryptobyte.Builder) {
			b.AddUint8(1) // ocsp
			b.AddUint16(0)
			b.AddUint16(0)
		})
	}
	if len(c.Groups) > 0 {
		ext(extSupportedGroups, func(b *cryptobyte.Builder) { addUint16List(b, c.Groups) })
	}
	if c.PointFormats {
		ext(extECPointFormats, func(b *cryptobyte.Builder) {
			b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(0) })
		})
	}
	if len(c.SignatureSchemes) > 0 {
		ext(extSignatureAlgorithms, func(b *cryptobyte.Builder) { addUint16List(b, c.SignatureSchemes) })
	}
	if c.ExtendedMasterSecret {
		ext(extExtendedMasterSec, func(*cryptobyte.Builder) {})
	}
	if len(c.SupportedVersions) > 0 {
		ext(extSupportedVersions, func(b *cryptobyte.Builder) {
			b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) {
				for _, v := range c.SupportedVersions {
					b.AddUint16(v)
				}
			})
		})
		if c.offersTLS13() {
			ext(extKeyShare, func(b *cryptobyte.Builder) {
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
					for _, ks := range c.KeyShares {
						b.AddUint16(ks.Group)
						b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(ks.Data) })
					}
				})
			})
		}
	}
	if c.RenegotiationInfo {
		ext(extRenegotiationInfo, func(b *cryptobyte.Builder) { b.AddUint8(0) })
	}
}

func (c *ClientHello) offersTLS13() bool {
	for _, v := range c.SupportedVersions {
		if v == VersionTLS13 {
			return true
		}
	}
	return false
}

func addUint16List(b *cryptobyte.Builder, list []uint16) {
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, v := range list {
			b.AddUint16(v)
		}
	})
}

// Records returns the ClientHello framed in handshake records, ready to be
// written to the connection.
func (c *ClientHello) Records() ([]byte, error) {
	msg, err := c.Marshal()
	if err != nil {
		return nil, err
	}
	return frame(recordHandshake, c.RecordVersion, msg), nil
}

// frame splits payload into records of at most 2^14 bytes.
func frame(typ uint8, version uint16, payload []byte) []byte {
	const maxPlain = 1 << 14
	var out []byte
	for len(payload) > 0 {
		n := min(len(payload), maxPlain)
		out = append(out, typ, byte(version>>8), byte(version), byte(n>>8), byte(n))
		out = append(out, payload[:n]...)
		payload = payload[n:]
	}
	return out
}
