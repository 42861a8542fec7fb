package udp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"
)

// The conn.Bind contract this package's Bind keeps, checked against
// wireguard-go's StdNetBind too, on real loopback sockets: batches of every
// shape GSO and GRO meet arrive whole and in order per flow, each with the
// endpoint of its sender and the sticky source, over IPv4 and IPv6; Close
// ends every receiver with net.ErrClosed and the Bind opens again.
//
// StdNetBind loses the sticky source of every datagram it receives with
// UDP GRO on (it cuts coalesced receives apart without their control
// data), so the sticky source is checked only where sticky is set.
var contractBinds = []struct {
	name   string
	new    func() conn.Bind
	sticky bool
}{
	{"StdNetBind", conn.NewStdNetBind, false},
	{"platform", newBind, true},
}

func TestBindContract(t *testing.T) {
	for _, f := range contractBinds {
		t.Run(f.name, func(t *testing.T) {
			t.Run("Batches", func(t *testing.T) { testBatches(t, f.new, f.sticky) })
			if f.sticky {
				t.Run("StickySource", func(t *testing.T) { testStickySource(t, f.new) })
			}
			t.Run("CloseAndReopen", func(t *testing.T) { testCloseAndReopen(t, f.new) })
		})
	}
}

// batchShapes are the batches each sender sends, as message sizes.
var batchShapes = []struct {
	name  string
	sizes []int
}{
	{"full-size", repeat(128, 1452)},
	{"over-64KiB", repeat(64, 1452)},
	{"short-tail", append(repeat(45, 1452), 500)},
	{"mixed", []int{1452, 1452, 100, 1452, 1452, 2000, 32, 32, 1452, 700, 700, 800}},
	{"small-over-64", repeat(128, 96)},
	{"handshakes", []int{148, 92, 148}},
	{"single-large", []int{9000}},
	{"other-segment", repeat(20, 1000)},
	{"back-to-full", repeat(30, 1452)},
	{"jumbo", []int{60000, 1452, 1452}},
}

func repeat(n, size int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = size
	}
	return s
}

// message is a test datagram: flow, sequence number, and a filling that
// both determine.
func message(flow byte, seq uint32, size int) []byte {
	return fill(make([]byte, size), flow, seq)
}

func fill(b []byte, flow byte, seq uint32) []byte {
	size := len(b)
	b[0] = flow
	binary.BigEndian.PutUint32(b[1:5], seq)
	for i := 5; i < size; i++ {
		b[i] = byte(uint32(i)*7 + seq + uint32(flow))
	}
	return b
}

func checkMessage(b []byte) (flow byte, seq uint32, err error) {
	if len(b) < 5 {
		return 0, 0, fmt.Errorf("message of %d bytes", len(b))
	}
	flow, seq = b[0], binary.BigEndian.Uint32(b[1:5])
	for i := 5; i < len(b); i++ {
		if b[i] != byte(uint32(i)*7+seq+uint32(flow)) {
			return flow, seq, fmt.Errorf("flow %d message %d (%d bytes) mangled at byte %d", flow, seq, len(b), i)
		}
	}
	return flow, seq, nil
}

type received struct {
	data []byte
	ep   conn.Endpoint
}

// peer is an open Bind with a goroutine per ReceiveFunc that forwards what
// arrives and, at the end, the error that ended it.
type peer struct {
	b    conn.Bind
	port uint16
	got  chan received
	ends chan error
	fns  int
}

func openPeer(t *testing.T, newBind func() conn.Bind, port uint16) *peer {
	t.Helper()
	p := &peer{b: newBind(), got: make(chan received, 4096), ends: make(chan error, 2)}
	p.start(t, port)
	t.Cleanup(func() { p.b.Close() })
	return p
}

func (p *peer) start(t *testing.T, port uint16) {
	t.Helper()
	fns, actual, err := p.b.Open(port)
	if err != nil {
		t.Fatalf("Open(%d): %v", port, err)
	}
	if actual == 0 || (port != 0 && actual != port) {
		t.Fatalf("Open(%d) gave port %d", port, actual)
	}
	p.port, p.fns = actual, len(fns)
	for _, fn := range fns {
		go func() {
			bufs := make([][]byte, p.b.BatchSize())
			for i := range bufs {
				bufs[i] = make([]byte, 1<<16-1)
			}
			sizes := make([]int, len(bufs))
			eps := make([]conn.Endpoint, len(bufs))
			for {
				n, err := fn(bufs, sizes, eps)
				if err != nil {
					p.ends <- err
					return
				}
				for i := range n {
					if sizes[i] > 0 {
						p.got <- received{append([]byte(nil), bufs[i][:sizes[i]]...), eps[i]}
					}
				}
			}
		}()
	}
}

func (p *peer) endpoint(t *testing.T, addr string) conn.Endpoint {
	t.Helper()
	ep, err := p.b.ParseEndpoint(netip.AddrPortFrom(netip.MustParseAddr(addr), p.port).String())
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

// next returns the next datagram, failing the test after 10 s without one.
func (p *peer) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-p.got:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no datagram within 10 s")
		return received{}
	}
}

// testBatches has two senders send every batch shape to one receiver, per
// address family, and checks that each sender's datagrams all arrive,
// intact, in order, and with the sender's address (and the sticky source
// if sticky).
func testBatches(t *testing.T, newBind func() conn.Bind, sticky bool) {
	for _, family := range []struct{ name, dst, src string }{
		{"IPv4", "127.0.0.1", "127.0.0.1"},
		{"IPv6", "::1", "::1"},
	} {
		t.Run(family.name, func(t *testing.T) {
			b := openPeer(t, newBind, 0)
			senders := []*peer{openPeer(t, newBind, 0), openPeer(t, newBind, 0)}
			flowOf := map[string]byte{}
			for f, s := range senders {
				flowOf[netip.AddrPortFrom(netip.MustParseAddr(family.src), s.port).String()] = byte(f)
			}
			next := make([]uint32, len(senders))
			// Buffers as the device's: each with room to the end of its own
			// 64 KiB, which StdNetBind coalesces into.
			const room = 1<<16 - 1
			spaces := [][]byte{make([]byte, conn.IdealBatchSize*room), make([]byte, conn.IdealBatchSize*room)}
			for _, shape := range batchShapes {
				for f, s := range senders {
					bufs := make([][]byte, len(shape.sizes))
					for i, size := range shape.sizes {
						bufs[i] = fill(spaces[f][i*room:i*room+size:(i+1)*room], byte(f), next[f]+uint32(i))
					}
					if err := s.b.Send(bufs, b.endpoint(t, family.dst)); err != nil {
						t.Fatalf("%s: flow %d Send: %v", shape.name, f, err)
					}
				}
				want := make([]uint32, len(senders))
				for f := range senders {
					want[f] = next[f] + uint32(len(shape.sizes))
				}
				for next[0] < want[0] || next[1] < want[1] {
					r := b.next(t)
					flow, seq, err := checkMessage(r.data)
					if err != nil {
						t.Fatalf("%s: %v", shape.name, err)
					}
					if from, ok := flowOf[r.ep.DstToString()]; !ok || from != flow {
						t.Fatalf("%s: flow %d message %d arrived with endpoint %s", shape.name, flow, seq, r.ep.DstToString())
					}
					if got := r.ep.SrcIP().String(); sticky && got != family.src {
						t.Fatalf("%s: flow %d message %d: sticky source %s, want %s", shape.name, flow, seq, got, family.src)
					}
					if int(flow) >= len(next) || seq != next[flow] {
						t.Fatalf("%s: flow %d message %d arrived, want message %d", shape.name, flow, seq, next[flow])
					}
					if size := shape.sizes[seq-(want[flow]-uint32(len(shape.sizes)))]; len(r.data) != size {
						t.Fatalf("%s: flow %d message %d has %d bytes, want %d", shape.name, flow, seq, len(r.data), size)
					}
					next[flow]++
				}
			}
		})
	}
}

// testStickySource sends to 127.0.0.2, answers on the received endpoint,
// and checks the answer comes from 127.0.0.2 (the sticky source); after
// ClearSrc it comes from the address the kernel picks, 127.0.0.1.
func testStickySource(t *testing.T, newBind func() conn.Bind) {
	a, b := openPeer(t, newBind, 0), openPeer(t, newBind, 0)
	if err := a.b.Send([][]byte{message(0, 0, 200)}, b.endpoint(t, "127.0.0.2")); err != nil {
		t.Fatal(err)
	}
	r := b.next(t)
	if got := r.ep.SrcToString(); got != "127.0.0.2" {
		t.Fatalf("received endpoint's source %q, want 127.0.0.2", got)
	}
	for i, want := range []string{"127.0.0.2", "127.0.0.1"} {
		if err := b.b.Send([][]byte{message(1, uint32(i), 300), message(1, uint32(i), 300)}, r.ep); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			back := a.next(t)
			if _, _, err := checkMessage(back.data); err != nil {
				t.Fatal(err)
			}
			if got := back.ep.DstIP().String(); got != want {
				t.Fatalf("answer %d came from %s, want %s", i, got, want)
			}
		}
		r.ep.ClearSrc()
	}
}

// testCloseAndReopen checks that Close ends every receiver with
// net.ErrClosed, that Send then fails, and that the Bind opens again on
// its port and carries datagrams.
func testCloseAndReopen(t *testing.T, newBind func() conn.Bind) {
	a, b := openPeer(t, newBind, 0), openPeer(t, newBind, 0)
	ep := b.endpoint(t, "127.0.0.1")
	if err := b.b.Close(); err != nil {
		t.Fatal(err)
	}
	for range b.fns {
		select {
		case err := <-b.ends:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("receiver ended with %v, want net.ErrClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a receiver still blocked 10 s after Close")
		}
	}
	if err := b.b.Send([][]byte{message(0, 0, 100)}, a.endpoint(t, "127.0.0.1")); err == nil {
		t.Fatal("Send on a closed Bind succeeded")
	}
	b.start(t, b.port)
	if err := a.b.Send([][]byte{message(2, 7, 100)}, ep); err != nil {
		t.Fatal(err)
	}
	if _, seq, err := checkMessage(b.next(t).data); err != nil || seq != 7 {
		t.Fatalf("after reopening: message %d, %v", seq, err)
	}
}
