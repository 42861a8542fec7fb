package netlab

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sort"
)

// Pcap is the content of a packet capture file.
type Pcap struct {
	// Packets in capture order.
	Packets []Packet
}

// Packet is one captured frame, decoded down to the transport layer where
// the harness knows the headers (Ethernet, Linux cooked, raw IP; IPv4, IPv6;
// UDP, TCP).
type Packet struct {
	// Data is the captured frame as on the wire.
	Data []byte
	// Network is "ip4", "ip6", or "" for frames that are not IP (ARP...).
	Network string
	// Proto is the transport protocol: "udp", "tcp", "icmp", "icmpv6", or
	// "proto-N" for others; "" when Network is "".
	Proto string
	// Src and Dst are the addresses and, for UDP and TCP, the ports.
	Src, Dst netip.AddrPort
	// Payload is the transport payload (after the UDP or TCP header).
	Payload []byte
}

// Flow names an outer protocol and server port seen in a capture.
type Flow struct {
	Proto string // "udp", "tcp", ...
	Port  uint16 // the lower of the two ports of the packet (the service side)
}

// String returns "udp/51820".
func (f Flow) String() string { return fmt.Sprintf("%s/%d", f.Proto, f.Port) }

// Contains reports whether any captured frame holds b anywhere in its bytes.
func (p *Pcap) Contains(b []byte) bool {
	for _, pk := range p.Packets {
		if bytes.Contains(pk.Data, b) {
			return true
		}
	}
	return false
}

// Count returns the number of IP packets of proto with port as source or
// destination port.
func (p *Pcap) Count(proto string, port uint16) int {
	n := 0
	for _, pk := range p.Packets {
		if pk.Proto == proto && (pk.Src.Port() == port || pk.Dst.Port() == port) {
			n++
		}
	}
	return n
}

// Flows lists the distinct outer protocol and service port pairs of the IP
// packets in the capture (the port being the lower of source and destination
// port, 0 for protocols without ports), sorted.
func (p *Pcap) Flows() []Flow {
	seen := map[Flow]bool{}
	for _, pk := range p.Packets {
		if pk.Network == "" {
			continue
		}
		port := min(pk.Src.Port(), pk.Dst.Port())
		seen[Flow{Proto: pk.Proto, Port: port}] = true
	}
	out := make([]Flow, 0, len(seen))
	for f := range seen {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Proto != out[j].Proto {
			return out[i].Proto < out[j].Proto
		}
		return out[i].Port < out[j].Port
	})
	return out
}

// Link types of pcap files this parser reads.
const (
	linkEthernet = 1
	linkRaw      = 101
	linkSLL      = 113
	linkIPv4     = 228
	linkIPv6     = 229
)

// ParsePcap decodes a classic pcap file (microsecond or nanosecond, either
// byte order) with Ethernet, Linux cooked (SLL) or raw IP link types.
func ParsePcap(data []byte) (*Pcap, error) {
	if len(data) < 24 {
		return nil, fmt.Errorf("pcap: %d bytes, shorter than the 24-byte file header", len(data))
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(data[:4]) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("pcap: bad magic %x (not a classic pcap file)", data[:4])
	}
	link := bo.Uint32(data[20:24]) & 0x0fffffff
	switch link {
	case linkEthernet, linkRaw, linkSLL, linkIPv4, linkIPv6:
	default:
		return nil, fmt.Errorf("pcap: link type %d not supported", link)
	}
	p := &Pcap{}
	off := 24
	for off < len(data) {
		if len(data)-off < 16 {
			return nil, fmt.Errorf("pcap: truncated record header at offset %d", off)
		}
		incl := int(bo.Uint32(data[off+8 : off+12]))
		off += 16
		if incl < 0 || incl > len(data)-off {
			return nil, fmt.Errorf("pcap: record at offset %d claims %d bytes, %d left", off-16, incl, len(data)-off)
		}
		frame := data[off : off+incl]
		off += incl
		p.Packets = append(p.Packets, decodeFrame(link, frame))
	}
	return p, nil
}

// decodeFrame decodes what it can; undecodable frames keep only Data.
func decodeFrame(link uint32, frame []byte) Packet {
	pk := Packet{Data: frame}
	var ip []byte
	switch link {
	case linkEthernet:
		if len(frame) < 14 {
			return pk
		}
		et, rest := binary.BigEndian.Uint16(frame[12:14]), frame[14:]
		for (et == 0x8100 || et == 0x88a8) && len(rest) >= 4 {
			et, rest = binary.BigEndian.Uint16(rest[2:4]), rest[4:]
		}
		if et != 0x0800 && et != 0x86dd {
			return pk
		}
		ip = rest
	case linkSLL:
		if len(frame) < 16 {
			return pk
		}
		ip = frame[16:]
	default:
		ip = frame
	}
	decodeIP(ip, &pk)
	return pk
}

func decodeIP(b []byte, pk *Packet) {
	if len(b) < 1 {
		return
	}
	var proto byte
	var src, dst netip.Addr
	var l4 []byte
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return
		}
		ihl := int(b[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(b[2:4]))
		if ihl < 20 || len(b) < ihl {
			return
		}
		if total >= ihl && total < len(b) {
			b = b[:total]
		}
		pk.Network = "ip4"
		proto = b[9]
		src, dst = netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
		l4 = b[ihl:]
		if binary.BigEndian.Uint16(b[6:8])&0x1fff != 0 {
			l4 = nil // a non-first fragment carries no transport header
		}
	case 6:
		if len(b) < 40 {
			return
		}
		pk.Network = "ip6"
		src, dst = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
		var err error
		proto, l4, err = skipIPv6Extensions(b[6], b[40:])
		if err != nil {
			l4 = nil
		}
	default:
		return
	}
	pk.Proto = protoName(proto)
	pk.Src, pk.Dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
	switch proto {
	case 17:
		if len(l4) >= 8 {
			pk.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(l4[0:2]))
			pk.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(l4[2:4]))
			pk.Payload = l4[8:]
		}
	case 6:
		if len(l4) >= 20 {
			off := int(l4[12]>>4) * 4
			pk.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(l4[0:2]))
			pk.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(l4[2:4]))
			if off >= 20 && off <= len(l4) {
				pk.Payload = l4[off:]
			}
		}
	default:
		pk.Payload = l4
	}
}

// skipIPv6Extensions follows the IPv6 extension header chain to the
// transport header.
func skipIPv6Extensions(next byte, b []byte) (byte, []byte, error) {
	for {
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(b) < 8 {
				return 0, nil, errors.New("truncated extension header")
			}
			n := (int(b[1]) + 1) * 8
			if len(b) < n {
				return 0, nil, errors.New("truncated extension header")
			}
			next, b = b[0], b[n:]
		case 44: // fragment
			if len(b) < 8 {
				return 0, nil, errors.New("truncated fragment header")
			}
			if binary.BigEndian.Uint16(b[2:4])&0xfff8 != 0 {
				return b[0], nil, nil
			}
			next, b = b[0], b[8:]
		default:
			return next, b, nil
		}
	}
}

func protoName(p byte) string {
	switch p {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 58:
		return "icmpv6"
	default:
		return fmt.Sprintf("proto-%d", p)
	}
}
