//go:build linux

package udp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
)

// socketBuffer is the send and receive buffer asked of each socket (beyond
// net.core.[rw]mem_max when the process may, CAP_NET_ADMIN).
const socketBuffer = 7 << 20

// batchBind is the Linux conn.Bind: one IPv4 and one IPv6 UDP socket on the
// same port, batched with sendmmsg/recvmmsg, with UDP GSO (UDP_SEGMENT) on
// send and UDP GRO on receive when the kernel offers them, and sticky
// source addresses (IP_PKTINFO, IPV6_PKTINFO).
//
// It moves the same datagrams as wireguard-go's StdNetBind without its
// copies: a GSO message's iovecs point at the device's packet buffers
// themselves (the kernel cuts the concatenated data every gso_size bytes),
// and a GRO receive scatters into the device's buffers with one iovec of
// the expected segment size each, so that the segments land in place. See
// segmentSends and placeSegments.
type batchBind struct {
	mu     sync.Mutex // guards v4, v6 and mark
	v4, v6 *socket    // nil when closed or the family is unsupported
	mark   uint32

	sends sync.Pool // *sendBatch
}

func newBind() conn.Bind {
	b := &batchBind{}
	b.sends.New = func() any { return newSendBatch(conn.IdealBatchSize) }
	return b
}

func ownsEndpoint(ep conn.Endpoint) bool {
	_, ok := ep.(*endpoint)
	return ok
}

// batchConn is what ipv4.PacketConn and ipv6.PacketConn share (their
// Message types are one type).
type batchConn interface {
	ReadBatch(ms []ipv6.Message, flags int) (int, error)
	WriteBatch(ms []ipv6.Message, flags int) (int, error)
}

// socket is one open UDP socket of the Bind.
type socket struct {
	conn *net.UDPConn
	pc   batchConn
	is6  bool
	gro  bool        // UDP_GRO is on: receives carry several datagrams
	gso  atomic.Bool // UDP_SEGMENT may be used; cleared when the kernel refuses it
}

// endpoint is a peer's address and port, and the local address and
// interface its last datagram arrived on (the sticky source), which Send
// uses as the source of what goes back.
type endpoint struct {
	dst netip.AddrPort

	mu  sync.Mutex // the device clears the source while Send reads it
	src source
}

// source is a sticky source: the local address, and the interface index
// (0 for any).
type source struct {
	addr    netip.Addr
	ifindex int32
}

func (e *endpoint) ClearSrc() {
	e.mu.Lock()
	e.src = source{}
	e.mu.Unlock()
}

func (e *endpoint) source() source {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.src
}

func (e *endpoint) DstIP() netip.Addr { return e.dst.Addr() }
func (e *endpoint) SrcIP() netip.Addr { return e.source().addr }
func (e *endpoint) DstToString() string {
	return e.dst.String()
}
func (e *endpoint) DstToBytes() []byte {
	b, _ := e.dst.MarshalBinary()
	return b
}
func (e *endpoint) SrcToString() string {
	if a := e.SrcIP(); a.IsValid() {
		return a.String()
	}
	return ""
}

func (b *batchBind) ParseEndpoint(s string) (conn.Endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, err
	}
	return &endpoint{dst: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}, nil
}

func (b *batchBind) BatchSize() int { return conn.IdealBatchSize }

func (b *batchBind) Open(port uint16) ([]conn.ReceiveFunc, uint16, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.v4 != nil || b.v6 != nil {
		return nil, 0, conn.ErrBindAlreadyOpen
	}
	var (
		v4, v6 *socket
		actual uint16
		err    error
	)
	for tries := 0; ; tries++ {
		v4, v6, actual, err = listenPair(port, b.mark)
		// With port 0 the IPv4 socket picked a port that may be taken for
		// IPv6: pick another.
		if err == nil || port != 0 || !errors.Is(err, unix.EADDRINUSE) || tries == 100 {
			break
		}
	}
	if err != nil {
		return nil, 0, err
	}
	var fns []conn.ReceiveFunc
	if v4 != nil {
		b.v4 = v4
		fns = append(fns, newReceiver(v4).receiveIPv4)
	}
	if v6 != nil {
		b.v6 = v6
		fns = append(fns, newReceiver(v6).receiveIPv6)
	}
	return fns, actual, nil
}

// listenPair opens the IPv4 and the IPv6 socket on one port. A family the
// kernel lacks is left out; both missing is an error.
func listenPair(port uint16, mark uint32) (v4, v6 *socket, actual uint16, err error) {
	v4, err = listen("udp4", port, mark)
	if err != nil && !errors.Is(err, unix.EAFNOSUPPORT) {
		return nil, nil, 0, err
	}
	if v4 != nil {
		port = uint16(v4.conn.LocalAddr().(*net.UDPAddr).Port)
	}
	v6, err = listen("udp6", port, mark)
	if err != nil && !errors.Is(err, unix.EAFNOSUPPORT) {
		if v4 != nil {
			v4.conn.Close()
		}
		return nil, nil, 0, err
	}
	if v6 != nil {
		port = uint16(v6.conn.LocalAddr().(*net.UDPAddr).Port)
	}
	if v4 == nil && v6 == nil {
		return nil, nil, 0, fmt.Errorf("udp listen on port %d: %w", port, unix.EAFNOSUPPORT)
	}
	return v4, v6, port, nil
}

// listen opens one UDP socket on all addresses of network ("udp4" or
// "udp6") with the options the Bind relies on, and reads back which
// offloads the kernel granted.
func listen(network string, port uint16, mark uint32) (*socket, error) {
	is6 := network == "udp6"
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = setOptions(int(fd), is6, mark) }); err != nil {
			return err
		}
		return serr
	}}
	addr := &net.UDPAddr{Port: int(port)}
	pc, err := lc.ListenPacket(context.Background(), network, addr.String())
	if err != nil {
		return nil, err
	}
	c := pc.(*net.UDPConn)
	s := &socket{conn: c, is6: is6}
	if is6 {
		s.pc = ipv6.NewPacketConn(c)
	} else {
		s.pc = ipv4.NewPacketConn(c)
	}
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("udp %s: %w", network, err)
	}
	if err := rc.Control(func(fd uintptr) {
		_, gsoErr := unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
		s.gso.Store(gsoErr == nil)
		gro, groErr := unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO)
		s.gro = groErr == nil && gro == 1
	}); err != nil {
		c.Close()
		return nil, fmt.Errorf("udp %s: %w", network, err)
	}
	return s, nil
}

// setOptions sets a fresh socket's options: large buffers (best effort),
// packet information for sticky sources, IPv6 only on the IPv6 socket,
// UDP GRO (best effort: kernels before 5.12 cannot report it back, and
// then the Bind receives without it), and the mark if one is set.
func setOptions(fd int, is6 bool, mark uint32) error {
	for _, opt := range []int{unix.SO_RCVBUF, unix.SO_SNDBUF, unix.SO_RCVBUFFORCE, unix.SO_SNDBUFFORCE} {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, socketBuffer)
	}
	if is6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1); err != nil {
			return fmt.Errorf("IPV6_RECVPKTINFO: %w", err)
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return fmt.Errorf("IPV6_V6ONLY: %w", err)
		}
	} else if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1); err != nil {
		return fmt.Errorf("IP_PKTINFO: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_GRO, 1)
	if mark != 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(mark)); err != nil {
			return fmt.Errorf("SO_MARK: %w", err)
		}
	}
	return nil
}

func (b *batchBind) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	for _, s := range []*socket{b.v4, b.v6} {
		if s != nil {
			errs = append(errs, s.conn.Close())
		}
	}
	b.v4, b.v6 = nil, nil
	return errors.Join(errs...)
}

// SetMark sets SO_MARK on the open sockets and on those of later Opens.
func (b *batchBind) SetMark(mark uint32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mark = mark
	for _, s := range []*socket{b.v4, b.v6} {
		if s == nil {
			continue
		}
		rc, err := s.conn.SyscallConn()
		if err != nil {
			return fmt.Errorf("udp set mark: %w", err)
		}
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(mark))
		}); err != nil {
			return fmt.Errorf("udp set mark: %w", err)
		}
		if serr != nil {
			return fmt.Errorf("udp set mark %d: %w", mark, serr)
		}
	}
	return nil
}

// Send writes bufs to ep in as few messages as UDP GSO allows, each
// message's iovecs pointing at the buffers themselves, from ep's sticky
// source if it has one. If the kernel refuses that source (the address is
// gone from the host: EINVAL, EADDRNOTAVAIL or ENETUNREACH), Send clears
// it from ep and sends again from the address the kernel picks, as the
// kernel's WireGuard does.
func (b *batchBind) Send(bufs [][]byte, ep conn.Endpoint) error {
	e, ok := ep.(*endpoint)
	if !ok {
		return conn.ErrWrongEndpointType
	}
	src := e.source()
	err := b.send(bufs, e.dst, src)
	if err != nil && src.addr.IsValid() &&
		(errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENETUNREACH)) {
		e.ClearSrc()
		err = b.send(bufs, e.dst, source{})
	}
	return err
}

// send writes bufs to dst from src. If the kernel refuses GSO on this
// socket (EIO: the route's device cannot checksum), the socket stops using
// it and the batch goes again one datagram a message; the error then says
// so (conn.ErrUDPGSODisabled, which the device logs and looks through).
func (b *batchBind) send(bufs [][]byte, dst netip.AddrPort, src source) error {
	is6 := dst.Addr().Is6()
	b.mu.Lock()
	s := b.v4
	if is6 {
		s = b.v6
	}
	b.mu.Unlock()
	if s == nil {
		return fmt.Errorf("udp send to %s: %w", dst, net.ErrClosed)
	}
	sb := b.sends.Get().(*sendBatch)
	defer b.sends.Put(sb)
	defer sb.release()
	sb.address(dst)
	if !s.gso.Load() {
		return s.write(sb.plain(bufs, src))
	}
	err := s.write(sb.segmented(bufs, src, is6))
	if err == nil || !errors.Is(err, unix.EIO) {
		return err
	}
	s.gso.Store(false)
	retryErr := s.write(sb.plain(bufs, src))
	return fmt.Errorf("udp on %s: %w", s.conn.LocalAddr(), conn.ErrUDPGSODisabled{RetryErr: retryErr})
}

// write sends every message, waiting for room in the socket's buffer.
func (s *socket) write(msgs []ipv6.Message) error {
	for len(msgs) > 0 {
		n, err := s.pc.WriteBatch(msgs, 0)
		if err != nil {
			return err
		}
		msgs = msgs[n:]
	}
	return nil
}

// sendBatch is the reusable state of one Send: the messages, their control
// data and the destination.
type sendBatch struct {
	msgs []ipv6.Message
	oobs [][]byte
	addr net.UDPAddr
	ip   [16]byte
}

func newSendBatch(n int) *sendBatch {
	sb := &sendBatch{}
	sb.grow(n)
	return sb
}

func (sb *sendBatch) grow(n int) {
	for len(sb.msgs) < n {
		sb.msgs = append(sb.msgs, ipv6.Message{})
		sb.oobs = append(sb.oobs, make([]byte, 0, oobSpace))
	}
}

func (sb *sendBatch) address(dst netip.AddrPort) {
	a := dst.Addr()
	if a.Is4() {
		v := a.As4()
		copy(sb.ip[:], v[:])
		sb.addr.IP = sb.ip[:4]
	} else {
		sb.ip = a.As16()
		sb.addr.IP = sb.ip[:16]
	}
	sb.addr.Port = int(dst.Port())
}

// release drops the references to the caller's buffers.
func (sb *sendBatch) release() {
	for i := range sb.msgs {
		sb.msgs[i].Buffers = nil
	}
}

// plain makes one message per buffer.
func (sb *sendBatch) plain(bufs [][]byte, src source) []ipv6.Message {
	sb.grow(len(bufs))
	for i := range bufs {
		m := &sb.msgs[i]
		m.Buffers = bufs[i : i+1]
		m.Addr = &sb.addr
		m.OOB = appendSource(sb.oobs[i][:0], src)
	}
	return sb.msgs[:len(bufs)]
}

// segmented makes one GSO message per run that segmentSends finds.
func (sb *sendBatch) segmented(bufs [][]byte, src source, is6 bool) []ipv6.Message {
	sb.grow(len(bufs))
	n := 0
	segmentSends(bufs, maxPayload(is6), func(lo, hi, size int) {
		m := &sb.msgs[n]
		m.Buffers = bufs[lo:hi]
		m.Addr = &sb.addr
		m.OOB = appendSource(sb.oobs[n][:0], src)
		if hi-lo > 1 {
			m.OOB = appendSegmentSize(m.OOB, size)
		}
		n++
	})
	return sb.msgs[:n]
}

// receiver is the state of one socket's ReceiveFunc, which the device
// calls from one goroutine only.
type receiver struct {
	s       *socket
	msgs    []ipv6.Message
	iovs    [][][]byte // per message, its buffers
	oobs    [][]byte
	segment int    // the segment size GRO receives are laid out for
	scratch []byte // for a receive whose layout missed: see placeSegments
}

func newReceiver(s *socket) *receiver {
	return &receiver{s: s, segment: defaultSegment}
}

// Two names, so that conn.ReceiveFunc.PrettyName says v4 and v6.
func (r *receiver) receiveIPv4(bufs [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
	return r.receive(bufs, sizes, eps)
}

func (r *receiver) receiveIPv6(bufs [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
	return r.receive(bufs, sizes, eps)
}

func (r *receiver) grow(n int) {
	for len(r.msgs) < n {
		r.msgs = append(r.msgs, ipv6.Message{})
		r.iovs = append(r.iovs, make([][]byte, 0, maxSegments))
		r.oobs = append(r.oobs, make([]byte, oobSpace))
	}
}

// receive reads one batch. Without GRO each buffer is one message. With
// GRO the buffers are taken maxSegments at a time, one message each, with
// one iovec per buffer cut to the expected segment size (the last one
// whole), so that the kernel's coalesced datagrams land one per buffer.
// The returned count may cover buffers left unused, with size 0.
func (r *receiver) receive(bufs [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
	per := 1
	if r.s.gro {
		per = maxSegments
	}
	nmsgs := (len(bufs) + per - 1) / per
	r.grow(nmsgs)
	for k := range nmsgs {
		lo, hi := k*per, min((k+1)*per, len(bufs))
		iov := r.iovs[k][:0]
		for i := lo; i < hi; i++ {
			b := bufs[i]
			if i < hi-1 && len(b) > r.segment {
				b = b[:r.segment]
			}
			iov = append(iov, b)
		}
		r.iovs[k] = iov
		r.msgs[k] = ipv6.Message{Buffers: iov, OOB: r.oobs[k]}
	}
	n, err := r.s.pc.ReadBatch(r.msgs[:nmsgs], 0)
	if err != nil {
		return 0, err
	}
	clear(sizes[:len(bufs)])
	end := 0
	for k := range n {
		m := &r.msgs[k]
		lo, hi := k*per, min((k+1)*per, len(bufs))
		if m.Flags&unix.MSG_TRUNC != 0 {
			continue
		}
		ctl := parseControl(m.OOB[:m.NN])
		segment := ctl.segment
		if segment == 0 {
			segment = m.N
		}
		count := placeSegments(m.Buffers, bufs[lo:hi], sizes[lo:hi], m.N, segment, &r.scratch)
		if count == 0 {
			continue
		}
		ua, _ := m.Addr.(*net.UDPAddr)
		if ua == nil {
			clear(sizes[lo:hi])
			continue
		}
		ap := ua.AddrPort()
		ep := &endpoint{dst: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), src: ctl.src}
		for i := lo; i < lo+count; i++ {
			eps[i] = ep
		}
		end = lo + count
		if ctl.segment > 0 {
			r.segment = ctl.segment
		} else if m.N > r.segment {
			r.segment = m.N
		}
	}
	return end, nil
}
