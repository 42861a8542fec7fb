package audit

import (
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/tls"
	"fmt"

	"intransit/tlspolicy"
)

// group is a key exchange group the audit probes for.
type group struct {
	id tls.CurveID
	// ec reports an elliptic curve usable with TLS 1.2 ECDHE suites.
	ec bool
}

// name is the group's name, as tlspolicy names it everywhere.
func (g group) name() string { return tlspolicy.GroupName(g.id) }

// probedGroups lists every group the audit asks about, classical first.
func probedGroups() []group {
	return []group{
		{tls.X25519, true},
		{tls.CurveP256, true},
		{tls.CurveP384, true},
		{tls.CurveP521, true},
		{0x001e, true},  // X448
		{0x0100, false}, // ffdhe2048 to ffdhe8192
		{0x0101, false},
		{0x0102, false},
		{0x0103, false},
		{0x0104, false},
		{tls.X25519MLKEM768, false},
		{tls.SecP256r1MLKEM768, false},
		{tls.SecP384r1MLKEM1024, false},
	}
}

// groupName names a group code point.
func groupName(id tls.CurveID) string { return tlspolicy.GroupName(id) }

// keyShare returns a fresh, well-formed TLS 1.3 key share for id, or nil
// when the audit does not build shares for that group (the server then has
// to answer with a HelloRetryRequest naming the group it accepts).
func keyShare(id tls.CurveID) ([]byte, error) {
	ecShare := func(c ecdh.Curve) ([]byte, error) {
		k, err := c.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate %s key share: %w", groupName(id), err)
		}
		return k.PublicKey().Bytes(), nil
	}
	switch id {
	case tls.X25519:
		return ecShare(ecdh.X25519())
	case tls.CurveP256:
		return ecShare(ecdh.P256())
	case tls.CurveP384:
		return ecShare(ecdh.P384())
	case tls.CurveP521:
		return ecShare(ecdh.P521())
	case tls.X25519MLKEM768:
		dk, err := mlkem.GenerateKey768()
		if err != nil {
			return nil, fmt.Errorf("generate ML-KEM-768 key: %w", err)
		}
		x, err := ecShare(ecdh.X25519())
		if err != nil {
			return nil, err
		}
		return append(dk.EncapsulationKey().Bytes(), x...), nil
	case tls.SecP256r1MLKEM768:
		dk, err := mlkem.GenerateKey768()
		if err != nil {
			return nil, fmt.Errorf("generate ML-KEM-768 key: %w", err)
		}
		p, err := ecShare(ecdh.P256())
		if err != nil {
			return nil, err
		}
		return append(p, dk.EncapsulationKey().Bytes()...), nil
	case tls.SecP384r1MLKEM1024:
		dk, err := mlkem.GenerateKey1024()
		if err != nil {
			return nil, fmt.Errorf("generate ML-KEM-1024 key: %w", err)
		}
		p, err := ecShare(ecdh.P384())
		if err != nil {
			return nil, err
		}
		return append(p, dk.EncapsulationKey().Bytes()...), nil
	}
	return nil, nil
}

// signatureSchemes is every signature scheme a server might want, weak ones
// included, so that no probe fails for lack of a scheme.
func signatureSchemes() []uint16 {
	return []uint16{
		0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0807, 0x0808,
		0x0809, 0x080a, 0x080b, 0x0401, 0x0501, 0x0601, 0x0201, 0x0203,
		0x0202, 0x0402, 0x0502, 0x0602, 0x0301, 0x0302, 0x0303,
	}
}
