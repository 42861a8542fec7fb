// Package transport defines how the tunnel's WireGuard messages reach the
// network: one interface, Bind, with implementations in sub-packages named
// for the technology (udp, quic, tls) and one that serves several at once
// (multi).
//
// A Bind is a wireguard-go conn.Bind with two more methods, so any Bind can be
// handed to device.NewDevice. The endpoint strings a Bind parses carry the
// transport as a scheme prefix: "quic://192.0.2.1:443", "tls://[2001:db8::1]:443";
// a plain "192.0.2.1:51820" (or "udp://192.0.2.1:51820") is UDP.
//
// # MTU
//
// Everything is sized from the path MTU (path_mtu in the daemon's
// configuration, DefaultPathMTU when absent): the smallest MTU between the
// peers, which must be at least MinPathMTU. No transport relies on ICMP
// "packet too big" or on fragmentation, so a path that drops ICMP works. The
// inner MTU (the MTU of the TUN device) leaves room for the WireGuard data
// message overhead (32 bytes: type, receiver index, counter, Poly1305 tag)
// and for everything the transport adds around it; each transport's
// Info.InnerMTU computes it:
//
//   - udp: IPv6 40 + UDP 8 + WireGuard 32 = 80 bytes, so 1420 over a 1500
//     path, as stock WireGuard chooses (it covers IPv4 paths too), and 1200
//     over a 1280 path.
//   - quic: packets are the path MTU less IPv6 and UDP headers (1452 over
//     1500, at most 1452, quic-go's ceiling), set from the first packet, with
//     path MTU discovery off. A 1-RTT packet spends 1 byte of flags, up to 20
//     of connection ID and 16 of AEAD tag, and a DATAGRAM frame 1 byte of
//     type and 2 of length, so the inner MTU is the packet size less 40 and
//     less 32: 1380 over 1500, 1160 over 1280. See the quic package.
//   - tls: a stream carries any message size, but every TCP segment still
//     crosses the same path, so the inner MTU is kept at the UDP number
//     (larger inner packets would only be re-segmented by TCP), and the
//     transport's TCP sockets have their MSS clamped to the path (TCPMSS).
//
// IPv6 inside the tunnel needs an inner MTU of MinIPv6MTU: over a path
// smaller than that plus the overhead (1360 for udp and tls, 1400 for quic)
// only IPv4 crosses, and configurations that route IPv6 are refused.
//
// # Choosing a transport
//
// A gateway serves every transport at once (multi). A client that can fall
// back between transports tries them in DefaultOrder (udp, then quic, then
// tls: fastest first, most likely to pass a restrictive network last); a
// transport counts as working while probes through the tunnel are answered
// over it. Monitor implements that choice. Such a client sets its inner MTU to the
// smallest of its candidates (registry.FallbackMTU), so that a change of transport
// never needs an MTU change on the TUN device.
//
// # Adding a transport
//
// A transport is its own package implementing Bind, with a function that
// returns its Info (name, network, default port, inner MTU, constructor),
// and one line in the table of package registry. Configuration keys, port
// checks, the gateways' listeners, the laptop client, metric labels and the
// test tools all iterate over that table.
package transport

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.zx2c4.com/wireguard/conn"
)

// Names of the transports, used as endpoint scheme prefixes.
const (
	UDP  = "udp"
	QUIC = "quic"
	TLS  = "tls"
)

// Default ports of the transports.
const (
	DefaultUDPPort  = 51820
	DefaultQUICPort = 443
	DefaultTLSPort  = 443
)

// ALPN is the TLS application protocol that the quic and tls transports
// negotiate; a peer that does not offer it is refused.
const ALPN = "intransit-wg/1"

// Bind moves WireGuard messages between the device and the network. It is
// wireguard-go's conn.Bind contract, with these rules that every
// implementation of this project keeps:
//
//   - Open puts the Bind into a listening state on port (0 picks one) and
//     returns the functions that receive; each runs in its own goroutine of
//     the device. A ReceiveFunc blocks until at least one message arrives,
//     fills packets[i] (buffers owned by the caller, BatchSize of them at
//     most), sizes[i] and eps[i], and returns how many it filled; sizes[i]
//     may be 0, meaning "ignore this one". After Close every ReceiveFunc
//     returns an error wrapping net.ErrClosed; it returns no other error,
//     because the device stops reading on one: a failing connection, a
//     malformed frame or a refused handshake is logged and dropped, and the
//     ReceiveFunc goes on with the other connections.
//   - A Bind may be opened again after Close (the device does so when its
//     port or up/down state changes). Endpoints parsed before stay valid.
//   - Each buffer carries exactly one WireGuard message, in both directions.
//   - Send never blocks the device on the network and never keeps bufs after
//     it returns: it copies what it queues. Transports that queue (quic, tls)
//     bound the queue per connection and drop messages when it is full, as
//     a congested UDP socket would; a drop is not an error. Send returns an
//     error only for a message it could not even queue (wrong endpoint type,
//     Bind closed).
//   - Endpoints identify the underlying connection: a message received on a
//     connection carries an Endpoint that sends on that same connection, so
//     a peer that comes back from a new address or on a new connection is
//     reached there once the device has seen it (WireGuard roaming). When
//     that connection has ended, Send to its Endpoint dials the peer's
//     address on the transport's listening port instead, so that two peers
//     whose connection died find each other again without reconfiguration.
//   - SetMark sets SO_MARK on the Bind's sockets, present and future.
type Bind interface {
	conn.Bind
	// Scheme returns the transport's name (UDP, QUIC or TLS).
	Scheme() string
	// Owns reports whether ep was made by this Bind (by ParseEndpoint or by
	// a ReceiveFunc), i.e. whether Send accepts it.
	Owns(ep conn.Endpoint) bool
}

// SplitScheme splits an endpoint string into its scheme and the rest:
// "quic://192.0.2.1:443" gives ("quic", "192.0.2.1:443"); a string without
// "://" gives ("", s).
func SplitScheme(s string) (scheme, rest string) {
	i := strings.Index(s, "://")
	if i < 0 {
		return "", s
	}
	return strings.ToLower(s[:i]), s[i+3:]
}

// ParseAddrPort parses the address part of an endpoint: "192.0.2.1:443",
// "[2001:db8::1]:443", or a bare address, which gets defaultPort. Host names
// are refused: endpoints are resolved before they reach the tunnel, so that
// parsing never blocks.
func ParseAddrPort(s string, defaultPort uint16) (netip.AddrPort, error) {
	if s == "" {
		return netip.AddrPort{}, fmt.Errorf("empty endpoint address")
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Port() == 0 {
			return netip.AddrPort{}, fmt.Errorf("endpoint %q: port 0", s)
		}
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	bare := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if a, err := netip.ParseAddr(bare); err == nil {
		if a.Zone() != "" && !a.Is6() {
			return netip.AddrPort{}, fmt.Errorf("endpoint %q: zone on a non-IPv6 address", s)
		}
		return netip.AddrPortFrom(a.Unmap(), defaultPort), nil
	}
	host, port, found := strings.Cut(s, ":")
	if found && strings.Count(s, ":") == 1 {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return netip.AddrPort{}, fmt.Errorf("endpoint %q: bad port %q", s, port)
		}
		return netip.AddrPort{}, fmt.Errorf("endpoint %q: %q is not an IP address (resolve host names before configuring the tunnel)", s, host)
	}
	return netip.AddrPort{}, fmt.Errorf("endpoint %q: not an IP address with an optional port", s)
}

// FormatEndpoint writes an endpoint string with its scheme, the form that
// ParseEndpoint of the multi Bind reads back.
func FormatEndpoint(scheme string, ap netip.AddrPort) string {
	return scheme + "://" + ap.String()
}
