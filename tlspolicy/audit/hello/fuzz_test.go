package hello

import (
	"bytes"
	"testing"

	"golang.org/x/crypto/cryptobyte"
)

// FuzzParseServerHello feeds arbitrary server answers through the record
// reader and every parser: none may panic or loop, whatever the bytes.
func FuzzParseServerHello(f *testing.F) {
	hrr := helloRetryRandom()
	hello := serverHelloBody(hrr[:], func(b *cryptobyte.Builder) {
		b.AddUint16(extSupportedVersions)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint16(VersionTLS13) })
		b.AddUint16(extKeyShare)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint16(0x001d) })
		b.AddUint16(extRenegotiationInfo)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(0) })
	})
	msg := append([]byte{TypeServerHello, 0, byte(len(hello) >> 8), byte(len(hello))}, hello...)
	f.Add(frame(recordHandshake, VersionTLS12, msg))
	f.Add([]byte{21, 3, 3, 0, 2, 2, 40})
	f.Add([]byte{22, 3, 1, 0, 4, TypeCertificate, 0, 0, 0})
	f.Add([]byte{22, 3, 3, 0, 8, TypeCertificate, 0, 0, 4, 0, 0, 1, 0x30})
	f.Add([]byte{22, 3, 3, 0, 9, TypeServerKeyExchange, 0, 0, 5, 3, 0, 0x17, 1, 4})
	f.Add([]byte("HTTP/1.0 400 Bad Request\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for range 64 {
			m, err := r.Next()
			if err != nil {
				return
			}
			switch m.Type {
			case TypeServerHello:
				if sh, err := ParseServerHello(m.Body); err == nil && len(sh.SessionID) > 32 {
					t.Fatalf("session id of %d bytes accepted", len(sh.SessionID))
				}
			case TypeCertificate:
				_, _ = ParseCertificate(m.Body)
			case TypeCertificateStatus:
				_, _ = ParseCertificateStatus(m.Body)
			case TypeServerKeyExchange:
				_, _ = ParseECDHEKeyExchange(m.Body)
				_, _ = ParseDHEKeyExchange(m.Body)
			}
		}
	})
}
