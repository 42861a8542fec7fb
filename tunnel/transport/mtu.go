package transport

import "fmt"

// Overheads used by InnerMTU, in bytes.
const (
	// WireGuardOverhead is what a WireGuard data message adds to an inner
	// packet: 4 type + 4 receiver index + 8 counter + 16 Poly1305 tag.
	WireGuardOverhead = 32
	// IPUDPOverhead is the outer IPv6 and UDP headers (40 + 8); IPv4 needs
	// less, and the same number is used for both, as stock WireGuard does.
	IPUDPOverhead = 48
	// QUICMaxUDPPayload is the largest UDP payload quic-go ever sends.
	QUICMaxUDPPayload = 1452
	// QUICMinUDPPayload is the smallest packet size QUIC allows (RFC 9000
	// 14.1), so the smallest underlay the quic transport works on is this
	// plus IPUDPOverhead.
	QUICMinUDPPayload = 1200
	// QUICPacketOverhead is quic-go's budget for a 1-RTT packet's own bytes
	// (1 flags + 20 connection ID + 16 AEAD tag) plus the DATAGRAM frame's
	// type byte and 2-byte length.
	QUICPacketOverhead = 1 + 20 + 16 + 1 + 2
	// MinInnerMTU is the smallest inner MTU any transport accepts: the
	// IPv6 minimum, so that IPv6 works inside the tunnel.
	MinInnerMTU = 1280
)

// QUICPacketSize returns the UDP payload size the quic transport uses over
// an underlay with the given MTU.
func QUICPacketSize(underlayMTU int) int {
	return min(underlayMTU-IPUDPOverhead, QUICMaxUDPPayload)
}

// InnerMTU returns the MTU for the TUN device when WireGuard messages cross
// an underlay with MTU underlayMTU over the named transport (see the package
// documentation for the arithmetic). It refuses an unknown transport and an
// underlay too small to carry an inner MTU of MinInnerMTU.
func InnerMTU(scheme string, underlayMTU int) (int, error) {
	var mtu int
	switch scheme {
	case UDP, TLS:
		mtu = underlayMTU - IPUDPOverhead - WireGuardOverhead
	case QUIC:
		if underlayMTU-IPUDPOverhead < QUICMinUDPPayload {
			return 0, fmt.Errorf("inner MTU for quic: underlay MTU %d is below QUIC's minimum of %d", underlayMTU, QUICMinUDPPayload+IPUDPOverhead)
		}
		mtu = QUICPacketSize(underlayMTU) - QUICPacketOverhead - WireGuardOverhead
	default:
		return 0, fmt.Errorf("inner MTU: unknown transport %q (want %s, %s or %s)", scheme, UDP, QUIC, TLS)
	}
	if mtu < MinInnerMTU {
		return 0, fmt.Errorf("inner MTU for %s over an underlay MTU of %d would be %d, below the minimum of %d", scheme, underlayMTU, mtu, MinInnerMTU)
	}
	return mtu, nil
}

// FallbackMTU returns the inner MTU for a peer that may use any of schemes:
// the smallest of their InnerMTU, so that changing transport never needs a
// change of MTU.
func FallbackMTU(schemes []string, underlayMTU int) (int, error) {
	if len(schemes) == 0 {
		return 0, fmt.Errorf("fallback MTU: no transports given")
	}
	best := 0
	for _, s := range schemes {
		m, err := InnerMTU(s, underlayMTU)
		if err != nil {
			return 0, err
		}
		if best == 0 || m < best {
			best = m
		}
	}
	return best, nil
}
