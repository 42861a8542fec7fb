package tunnel

import (
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"sync"
	"time"
)

// probePrefix holds every probe address: a unique local /48 ("fd" then
// "intra" in ASCII), the other 80 bits taken from a hash of the public key.
var probePrefix = netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfd, 0x69, 0x6e, 0x74, 0x72, 0x61}), 48)

// Probe packet layout: IPv6 header, ICMPv6 echo header, 8 bytes of send
// time (Unix nanoseconds).
const (
	probeIPv6Len   = 40
	probeICMPLen   = 8
	probeLen       = probeIPv6Len + probeICMPLen + 8
	icmpv6Proto    = 58
	icmpEchoReq    = 128
	icmpEchoReply  = 129
	probeEchoID    = 0x6974 // "it"
	probeQueueMax  = 256    // packets waiting to enter wireguard-go
	probeHopLimit  = 64
	probeAddrBytes = 16
	// probeAnswersPerSecond bounds the answers to one source: a watching
	// side sends at most four probes a second.
	probeAnswersPerSecond = 10
)

// ProbeAddr returns the probe address of the device with public key pub.
func ProbeAddr(pub PublicKey) netip.Addr {
	h := sha256.Sum256(append([]byte("intransit probe address\x00"), pub[:]...))
	a := probePrefix.Addr().As16()
	copy(a[6:], h[:10])
	return netip.AddrFrom16(a)
}

// isProbePrefix reports whether p is a single probe address.
func isProbePrefix(p netip.Prefix) bool {
	return p.Bits() == 128 && probePrefix.Contains(p.Addr())
}

// ProbeReply is the newest probe reply from a peer.
type ProbeReply struct {
	// Sent is when the answered request left, Received when the reply
	// arrived; both zero when no reply came yet.
	Sent, Received time.Time
}

// prober is the probe responder and recorder between wireguard-go and the
// TUN device. Its methods are safe for concurrent use.
type prober struct {
	own  [probeAddrBytes]byte
	wake func() // makes a blocked Read return so that queued packets go out

	mu      sync.Mutex
	queue   [][]byte
	replies map[netip.Addr]ProbeReply
	windows map[netip.Addr]rateWindow
}

func newProber(own PublicKey, wake func()) *prober {
	return &prober{own: ProbeAddr(own).As16(), wake: wake, replies: make(map[netip.Addr]ProbeReply), windows: make(map[netip.Addr]rateWindow)}
}

// request queues an echo request to the peer with key pub, stamped with now.
func (p *prober) request(pub PublicKey, now time.Time) {
	p.enqueue(buildProbe(p.own, ProbeAddr(pub).As16(), icmpEchoReq, uint64(now.UnixNano())))
}

// reply returns the newest reply from the peer with key pub.
func (p *prober) reply(pub PublicKey) ProbeReply {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.replies[ProbeAddr(pub)]
}

// lastRequest returns when the newest probe request from the peer with
// key pub arrived (answered or not), the zero time when none did.
func (p *prober) lastRequest(pub PublicKey) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.windows[ProbeAddr(pub)].last
}

// forget drops what is recorded of the peer with key pub.
func (p *prober) forget(pub PublicKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.replies, ProbeAddr(pub))
	delete(p.windows, ProbeAddr(pub))
}

// enqueue queues a packet for wireguard-go and wakes the reader; beyond
// probeQueueMax packets are dropped, as a full queue would.
func (p *prober) enqueue(pkt []byte) {
	p.mu.Lock()
	if len(p.queue) >= probeQueueMax {
		p.mu.Unlock()
		return
	}
	p.queue = append(p.queue, pkt)
	p.mu.Unlock()
	p.wake()
}

// drain moves queued packets into bufs at offset (as a TUN read would)
// and returns how many.
func (p *prober) drain(bufs [][]byte, sizes []int, offset int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for n < len(bufs) && len(p.queue) > 0 {
		pkt := p.queue[0]
		if len(bufs[n])-offset < len(pkt) {
			break
		}
		sizes[n] = copy(bufs[n][offset:], pkt)
		p.queue[0] = nil
		p.queue = p.queue[1:]
		n++
	}
	if len(p.queue) == 0 {
		p.queue = nil
	}
	return n
}

// take handles pkt if it is addressed to our probe address, and reports
// whether it did (then the packet must not reach the kernel). A request
// is answered (within the per-source bound), a reply recorded with the
// time now, anything else dropped.
func (p *prober) take(pkt []byte, now time.Time) bool {
	if len(pkt) < probeIPv6Len || pkt[0]>>4 != 6 || [probeAddrBytes]byte(pkt[24:40]) != p.own {
		return false
	}
	// Whatever is addressed to our probe address stops here; only a
	// well-formed echo from a probe address is looked at.
	if len(pkt) < probeLen || pkt[6] != icmpv6Proto {
		return true
	}
	icmp := pkt[probeIPv6Len:]
	src := [probeAddrBytes]byte(pkt[8:24])
	from := netip.AddrFrom16(src)
	if icmp[1] != 0 || binary.BigEndian.Uint16(icmp[4:6]) != probeEchoID || !probePrefix.Contains(from) {
		return true
	}
	stamp := binary.BigEndian.Uint64(icmp[probeICMPLen:])
	switch icmp[0] {
	case icmpEchoReq:
		if p.allow(from, now) {
			p.enqueue(buildProbe(p.own, src, icmpEchoReply, stamp))
		}
	case icmpEchoReply:
		sent := time.Unix(0, int64(stamp))
		p.mu.Lock()
		if r := p.replies[from]; !sent.Before(r.Sent) {
			p.replies[from] = ProbeReply{Sent: sent, Received: now}
		}
		p.mu.Unlock()
	}
	return true
}

// allow reports whether a request from from may be answered at now: at
// most probeAnswersPerSecond per source and second, so that one peer's
// flood cannot crowd out the answers to the others.
func (p *prober) allow(from netip.Addr, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.windows[from]
	if now.Sub(w.start) >= time.Second || now.Before(w.start) {
		w.start, w.n = now, 0
	}
	w.n++
	w.last = now
	p.windows[from] = w
	return w.n <= probeAnswersPerSecond
}

// rateWindow counts the requests of one source in a one-second window,
// and keeps when the newest arrived.
type rateWindow struct {
	start, last time.Time
	n           int
}

// buildProbe makes an echo request or reply from src to dst with stamp.
func buildProbe(src, dst [probeAddrBytes]byte, typ byte, stamp uint64) []byte {
	pkt := make([]byte, probeLen)
	pkt[0] = 0x60
	binary.BigEndian.PutUint16(pkt[4:6], probeICMPLen+8)
	pkt[6] = icmpv6Proto
	pkt[7] = probeHopLimit
	copy(pkt[8:24], src[:])
	copy(pkt[24:40], dst[:])
	icmp := pkt[probeIPv6Len:]
	icmp[0] = typ
	binary.BigEndian.PutUint16(icmp[4:6], probeEchoID)
	binary.BigEndian.PutUint64(icmp[probeICMPLen:], stamp)
	binary.BigEndian.PutUint16(icmp[2:4], icmpv6Checksum(pkt))
	return pkt
}

// icmpv6Checksum is the ICMPv6 checksum of pkt (RFC 4443 2.3), with the
// checksum field taken as zero.
func icmpv6Checksum(pkt []byte) uint16 {
	icmp := pkt[probeIPv6Len:]
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(pkt[8:40])
	sum += uint32(len(icmp)) + icmpv6Proto
	add(icmp[:2])
	add(icmp[4:])
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
