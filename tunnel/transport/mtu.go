package transport

// Path and overhead sizes, in bytes.
const (
	// WireGuardOverhead is what a WireGuard data message adds to an inner
	// packet: 4 type + 4 receiver index + 8 counter + 16 Poly1305 tag.
	WireGuardOverhead = 32
	// IPUDPOverhead is the outer IPv6 and UDP headers (40 + 8); IPv4 needs
	// less, and the same number is used for both, as stock WireGuard does.
	IPUDPOverhead = 48
	// DefaultPathMTU is the path MTU assumed when none is configured: an
	// Ethernet path of the internet.
	DefaultPathMTU = 1500
	// MinPathMTU is the smallest path MTU the transports work on: the IPv6
	// minimum, which every IPv6 link carries, and which leaves QUIC the
	// 1200-byte UDP payload it requires (RFC 9000 14.1). A smaller path
	// (a tunnel inside a tunnel) is refused rather than half-served: below
	// it QUIC cannot run at all, and the control channel's TLS handshake
	// would depend on fragmentation that ICMP filtering breaks.
	MinPathMTU = 1280
	// MinIPv6MTU is the smallest MTU an interface carrying IPv6 may have
	// (RFC 8200). Over a path below MinIPv6MTU plus a transport's overhead
	// the inner MTU is smaller, and IPv6 cannot cross the tunnel.
	MinIPv6MTU = 1280
)

// TCPMSS returns the MSS that keeps a TCP segment (IPv6 40 + TCP 20 bytes
// of headers around it; IPv4 needs 20 bytes less) within a path of MTU
// pathMTU. Clamping a socket to it makes its segments cross a path that
// drops ICMP "packet too big" without needing path MTU discovery.
func TCPMSS(pathMTU int) int {
	return pathMTU - 40 - 20
}
