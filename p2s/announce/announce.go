// Package announce tells a site's LAN which gateway to send a
// point-to-site client's traffic to, when several gateways serve the same
// clients (see p2s.Holders): the gateway that holds a client's session
// answers ARP for the client's address on the LAN and announces it with
// gratuitous ARP when it takes the client over.
//
// # Why per-client ARP from the holder
//
// The alternative, one elected leader holding a virtual address, makes
// every packet toward every client go through the leader, which must then
// forward it to whichever gateway holds the client: a second tunnel
// between the gateways, twice the hops, and the leader's failure moving
// all clients' return traffic at once even when their own gateway is
// fine. Announcing each client from the gateway that holds its session
// keeps both gateways active, sends return traffic straight to the right
// one, needs nothing from the site but one route (the client pools are
// on-link on the LAN: `ip route add 10.99.0.0/24 dev lan0`, or a router's
// connected route), and is fenced per client by the same claim that fences
// the session (p2s.Holders): the gateway that lost a claim withdraws its
// announcement.
//
// The answers come from the daemon itself (a packet socket), not from
// proxy entries in the kernel: a gateway killed with SIGKILL stops
// answering with its process, so it cannot keep attracting a client's
// traffic that another gateway now holds. IPv4 only: an IPv6 client
// address is not announced (a site reaches it through a route to the pool
// via one gateway, as with a single gateway).
package announce

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// Announcer answers for client addresses on a site LAN. Its contract:
//
//   - Announce makes the addresses this gateway's: from its return on,
//     requests for them are answered with this gateway's link address,
//     and hosts that cached another gateway's are told at once (gratuitous
//     announcements, repeated shortly after in case one is lost). Announcing
//     an address announced already only repeats the announcement.
//   - Withdraw stops answering for the addresses; hosts that cached this
//     gateway move when the new holder announces.
//   - Nothing outlives Close or the process: a gateway that stopped or
//     died answers for nothing.
//   - Methods are safe for concurrent use.
type Announcer interface {
	Announce(addrs ...netip.Addr) error
	Withdraw(addrs ...netip.Addr) error
	Close() error
}

// Ethernet and ARP constants.
const (
	etherTypeARP = 0x0806
	etherTypeIP4 = 0x0800
	arpRequest   = 1
	arpReply     = 2
	ethHeader    = 14
	arpLen       = 28
)

var broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// frame builds an Ethernet frame carrying one IPv4-over-Ethernet ARP
// message.
func frame(dst, src net.HardwareAddr, op uint16, sha net.HardwareAddr, spa netip.Addr, tha net.HardwareAddr, tpa netip.Addr) []byte {
	b := make([]byte, ethHeader+arpLen)
	copy(b[0:6], dst)
	copy(b[6:12], src)
	binary.BigEndian.PutUint16(b[12:14], etherTypeARP)
	a := b[ethHeader:]
	binary.BigEndian.PutUint16(a[0:2], 1) // Ethernet
	binary.BigEndian.PutUint16(a[2:4], etherTypeIP4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:8], op)
	copy(a[8:14], sha)
	s4 := spa.As4()
	copy(a[14:18], s4[:])
	copy(a[18:24], tha)
	t4 := tpa.As4()
	copy(a[24:28], t4[:])
	return b
}

// gratuitous is the announcement of addr at mac: an ARP request from addr
// for addr, broadcast, which hosts that cached addr update from.
func gratuitous(mac net.HardwareAddr, addr netip.Addr) []byte {
	return frame(broadcast, mac, arpRequest, mac, addr, make(net.HardwareAddr, 6), addr)
}

// answer returns the reply to an ARP request frame for an address that
// owns says is announced, or nil when the frame is something else.
func answer(req []byte, mac net.HardwareAddr, owns func(netip.Addr) bool) []byte {
	if len(req) < ethHeader+arpLen || binary.BigEndian.Uint16(req[12:14]) != etherTypeARP {
		return nil
	}
	a := req[ethHeader:]
	if binary.BigEndian.Uint16(a[0:2]) != 1 || binary.BigEndian.Uint16(a[2:4]) != etherTypeIP4 || a[4] != 6 || a[5] != 4 ||
		binary.BigEndian.Uint16(a[6:8]) != arpRequest {
		return nil
	}
	sha := net.HardwareAddr(a[8:14])
	spa := netip.AddrFrom4([4]byte(a[14:18]))
	tpa := netip.AddrFrom4([4]byte(a[24:28]))
	if spa == tpa || !owns(tpa) {
		// A gratuitous announcement (another gateway's) or an address not
		// ours.
		return nil
	}
	return frame(sha, mac, arpReply, mac, tpa, sha, spa)
}
