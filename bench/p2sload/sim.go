package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/tun"
)

// pingTUN is the packet side of a simulated client: a tun.Device without a
// kernel interface or a network stack. Packets put on out are sent through
// the tunnel; packets the tunnel delivers go to in, which holds one (more
// are dropped, as a full queue of a real interface would). It moves one
// packet at a time.
type pingTUN struct {
	out    chan []byte
	in     chan []byte
	events chan tun.Event
	closed chan struct{}
	once   sync.Once
}

func newPingTUN() *pingTUN {
	t := &pingTUN{out: make(chan []byte), in: make(chan []byte, 1), events: make(chan tun.Event, 1), closed: make(chan struct{})}
	t.events <- tun.EventUp
	return t
}

// File returns nil: there is no file descriptor behind a pingTUN.
func (t *pingTUN) File() *os.File { return nil }

// Read blocks until a packet is put on out or the device is closed.
func (t *pingTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	select {
	case <-t.closed:
		return 0, os.ErrClosed
	case p := <-t.out:
		sizes[0] = copy(bufs[0][offset:], p)
		return 1, nil
	}
}

// Write hands the packets to in without blocking.
func (t *pingTUN) Write(bufs [][]byte, offset int) (int, error) {
	for _, b := range bufs {
		p := append([]byte(nil), b[offset:]...)
		select {
		case t.in <- p:
		default:
		}
	}
	return len(bufs), nil
}

// MTU is the usual WireGuard MTU.
func (t *pingTUN) MTU() (int, error) { return 1420, nil }

// Name is a fixed name: there is no interface.
func (t *pingTUN) Name() (string, error) { return "p2sload", nil }

// Events delivers EventUp once, and is closed by Close.
func (t *pingTUN) Events() <-chan tun.Event { return t.events }

// Close ends Read; it may be called more than once.
func (t *pingTUN) Close() error {
	t.once.Do(func() {
		close(t.closed)
		close(t.events)
	})
	return nil
}

// BatchSize is 1: packets move one at a time.
func (t *pingTUN) BatchSize() int { return 1 }

// udpBind is a conn.Bind on one IPv4 UDP socket on loopback that moves one
// datagram at a time. wireguard-go's StdNetBind opens two sockets and
// keeps 128 message buffers of 64 KiB per socket for batching, which
// thousands of simulated clients in one process cannot afford.
type udpBind struct {
	mu sync.Mutex
	c  *net.UDPConn
}

// udpEndpoint is a udpBind's peer address.
type udpEndpoint netip.AddrPort

func (e udpEndpoint) ClearSrc()           {}
func (e udpEndpoint) SrcToString() string { return "" }
func (e udpEndpoint) DstToString() string { return netip.AddrPort(e).String() }
func (e udpEndpoint) DstToBytes() []byte {
	b, _ := netip.AddrPort(e).MarshalBinary()
	return b
}
func (e udpEndpoint) DstIP() netip.Addr { return netip.AddrPort(e).Addr() }
func (e udpEndpoint) SrcIP() netip.Addr { return netip.Addr{} }

// Open listens on 127.0.0.1:port (any port when 0).
func (b *udpBind) Open(port uint16) ([]conn.ReceiveFunc, uint16, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c != nil {
		return nil, 0, conn.ErrBindAlreadyOpen
	}
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port)))
	if err != nil {
		return nil, 0, fmt.Errorf("udp bind: %w", err)
	}
	b.c = c
	recv := func(bufs [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
		n, ap, err := c.ReadFromUDPAddrPort(bufs[0])
		if err != nil {
			return 0, err
		}
		sizes[0], eps[0] = n, udpEndpoint(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
		return 1, nil
	}
	return []conn.ReceiveFunc{recv}, uint16(c.LocalAddr().(*net.UDPAddr).Port), nil
}

// Close closes the socket, which ends the receive function.
func (b *udpBind) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c == nil {
		return nil
	}
	err := b.c.Close()
	b.c = nil
	return err
}

// SetMark does nothing: the benchmark needs no routing marks.
func (b *udpBind) SetMark(uint32) error { return nil }

// Send writes each datagram to ep.
func (b *udpBind) Send(bufs [][]byte, ep conn.Endpoint) error {
	b.mu.Lock()
	c := b.c
	b.mu.Unlock()
	if c == nil {
		return net.ErrClosed
	}
	e, ok := ep.(udpEndpoint)
	if !ok {
		return errors.New("udp bind: foreign endpoint")
	}
	for _, p := range bufs {
		if _, err := c.WriteToUDPAddrPort(p, netip.AddrPort(e)); err != nil {
			return err
		}
	}
	return nil
}

// ParseEndpoint parses an address and port.
func (b *udpBind) ParseEndpoint(s string) (conn.Endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, err
	}
	return udpEndpoint(ap), nil
}

// BatchSize is 1: one datagram per call.
func (b *udpBind) BatchSize() int { return 1 }
