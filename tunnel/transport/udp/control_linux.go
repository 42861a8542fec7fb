//go:build linux

package udp

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// oobSpace is the control buffer of one message: a packet information
// (the IPv6 one is the larger) and a UDP segment size, with room to spare.
var oobSpace = 2 * (unix.CmsgSpace(unix.SizeofInet6Pktinfo) + unix.CmsgSpace(4))

// control is what a received message's control data says.
type control struct {
	src     source // the local address the datagram was sent to, and its interface
	segment int    // GRO segment size; 0 for a single datagram
}

// parseControl reads IP_PKTINFO, IPV6_PKTINFO and UDP_GRO; it ignores the
// rest and anything malformed.
func parseControl(b []byte) control {
	var c control
	for len(b) >= unix.SizeofCmsghdr {
		h, data, rest, err := unix.ParseOneSocketControlMessage(b)
		if err != nil {
			break
		}
		b = rest
		switch {
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			// struct in_pktinfo: ifindex, spec_dst, addr.
			c.src.ifindex = int32(binary.NativeEndian.Uint32(data[0:4]))
			c.src.addr = netip.AddrFrom4([4]byte(data[4:8]))
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			// struct in6_pktinfo: addr, ifindex.
			c.src.addr = netip.AddrFrom16([16]byte(data[0:16]))
			c.src.ifindex = int32(binary.NativeEndian.Uint32(data[16:20]))
		case h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO && len(data) >= 4:
			c.segment = int(binary.NativeEndian.Uint32(data[0:4]))
		case h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO && len(data) >= 2:
			c.segment = int(binary.NativeEndian.Uint16(data[0:2]))
		}
	}
	return c
}

// appendSource appends the packet information that makes the kernel send
// from src, if it is set.
func appendSource(b []byte, src source) []byte {
	if !src.addr.IsValid() {
		return b
	}
	if src.addr.Is4() {
		info := unix.Inet4Pktinfo{Ifindex: src.ifindex, Spec_dst: src.addr.As4()}
		return appendCmsg(b, unix.IPPROTO_IP, unix.IP_PKTINFO,
			unsafe.Slice((*byte)(unsafe.Pointer(&info)), unix.SizeofInet4Pktinfo))
	}
	info := unix.Inet6Pktinfo{Addr: src.addr.As16(), Ifindex: uint32(src.ifindex)}
	return appendCmsg(b, unix.IPPROTO_IPV6, unix.IPV6_PKTINFO,
		unsafe.Slice((*byte)(unsafe.Pointer(&info)), unix.SizeofInet6Pktinfo))
}

// appendSegmentSize appends UDP_SEGMENT: the kernel cuts the message's
// data into datagrams of size bytes.
func appendSegmentSize(b []byte, size int) []byte {
	v := uint16(size)
	return appendCmsg(b, unix.SOL_UDP, unix.UDP_SEGMENT, unsafe.Slice((*byte)(unsafe.Pointer(&v)), 2))
}

func appendCmsg(b []byte, level, typ int32, data []byte) []byte {
	h := unix.Cmsghdr{Level: level, Type: typ}
	h.SetLen(unix.CmsgLen(len(data)))
	start := len(b)
	b = append(b, unsafe.Slice((*byte)(unsafe.Pointer(&h)), unix.SizeofCmsghdr)...)
	b = append(b, make([]byte, unix.CmsgLen(0)-unix.SizeofCmsghdr)...)
	b = append(b, data...)
	return append(b, make([]byte, start+unix.CmsgSpace(len(data))-len(b))...)
}
