package udp

import "intransit/tunnel/transport"

const (
	// maxSegments is the most datagrams one UDP GSO send may carry, and
	// the most one GRO receive delivers (the kernel's UDP_MAX_SEGMENTS
	// before 6.10 and UDP_GRO_CNT_MAX).
	maxSegments = 64

	// maxPayload4 and maxPayload6 are the most UDP payload one GSO send
	// may carry: an IPv4 datagram's 65,535 bytes less its IP and UDP
	// headers; IPv6's payload length does not count its own header.
	maxPayload4 = 1<<16 - 1 - 20 - 8
	maxPayload6 = 1<<16 - 1 - 8
)

// defaultSegment is the segment size a receive expects before it has seen
// one: the largest WireGuard data message over the default path.
var defaultSegment = InnerMTU(transport.DefaultPathMTU) + transport.WireGuardOverhead

func maxPayload(is6 bool) int {
	if is6 {
		return maxPayload6
	}
	return maxPayload4
}

// segmentSends cuts bufs into the runs that one UDP GSO message each can
// carry, calling run(lo, hi, size) for bufs[lo:hi] in order. A run starts
// with a buffer of some size, goes on with buffers of that same size, and
// ends after a shorter one (the kernel cuts the data every size bytes, so
// only the last may be shorter), before a longer one, at maxSegments
// buffers or at max bytes in all. A run of one buffer is sent without GSO.
func segmentSends(bufs [][]byte, max int, run func(lo, hi, size int)) {
	for lo := 0; lo < len(bufs); {
		size := len(bufs[lo])
		total := size
		hi := lo + 1
		for hi < len(bufs) && hi-lo < maxSegments {
			l := len(bufs[hi])
			if l > size || total+l > max {
				break
			}
			total += l
			hi++
			if l < size {
				break
			}
		}
		run(lo, hi, size)
		lo = hi
	}
}

// placeSegments puts the datagrams of one received message into bufs, one
// each, and their sizes into sizes; it returns how many buffers it used.
// The message holds n bytes, received into the iovecs iov (a prefix of
// each of bufs, in order), and is a run of datagrams of segment bytes, the
// last one possibly shorter (a single datagram has segment n).
//
// When every iovec but the last is segment bytes long, the datagrams
// already sit one per buffer and nothing is copied. Otherwise (the
// segment size differs from the one the iovecs were cut for, or a single
// datagram was longer than the first iovec) the bytes are gathered into
// *scratch and cut from there into bufs. Datagrams beyond len(bufs) are
// dropped, as a full socket would.
func placeSegments(iov, bufs [][]byte, sizes []int, n, segment int, scratch *[]byte) int {
	if n == 0 || segment <= 0 {
		return 0
	}
	count := (n + segment - 1) / segment
	if inPlace(iov, n, segment, count) {
		for j := range count {
			sizes[j] = min(segment, n-j*segment)
		}
		return count
	}
	if cap(*scratch) < n {
		*scratch = make([]byte, n)
	}
	data := (*scratch)[:0]
	for _, v := range iov {
		data = append(data, v[:min(len(v), n-len(data))]...)
		if len(data) == n {
			break
		}
	}
	count = min(count, len(bufs))
	for j := range count {
		sizes[j] = copy(bufs[j], data[j*segment:min((j+1)*segment, n)])
	}
	return count
}

// inPlace reports whether count datagrams of segment bytes (n in all) lie
// one per iovec of iov, each at its start.
func inPlace(iov [][]byte, n, segment, count int) bool {
	if count > len(iov) {
		return false
	}
	for j := range count - 1 {
		if len(iov[j]) != segment {
			return false
		}
	}
	return len(iov[count-1]) >= n-(count-1)*segment
}
