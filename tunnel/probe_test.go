package tunnel

import (
	"encoding/binary"
	"os"
	"sync"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/tun"
)

func testKey(t *testing.T) PublicKey {
	t.Helper()
	k, err := GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKey()
}

func TestProbeAddr(t *testing.T) {
	a, b := testKey(t), testKey(t)
	pa := ProbeAddr(a)
	if !probePrefix.Contains(pa) || pa == ProbeAddr(b) || pa != ProbeAddr(a) {
		t.Errorf("probe addresses %s (again %s) and %s", pa, ProbeAddr(a), ProbeAddr(b))
	}
}

// pipeTUN is a tun.Device over a pipe: Read takes one packet written to
// the pipe, Write records the packets.
type pipeTUN struct {
	tun.Device
	r, w    *os.File
	mu      sync.Mutex
	written [][]byte
}

func (p *pipeTUN) File() *os.File { return p.r }
func (p *pipeTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	n, err := p.r.Read(bufs[0][offset:])
	if err != nil {
		return 0, err
	}
	sizes[0] = n
	return 1, nil
}
func (p *pipeTUN) Write(bufs [][]byte, offset int) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range bufs {
		p.written = append(p.written, append([]byte(nil), b[offset:]...))
	}
	return len(bufs), nil
}

func newPipeTUN(t *testing.T) *pipeTUN {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return &pipeTUN{r: r, w: w}
}

// readOne reads one packet through pt at offset 4.
func readOne(t *testing.T, pt *probeTUN) []byte {
	t.Helper()
	bufs, sizes := [][]byte{make([]byte, 1500)}, make([]int, 1)
	n, err := pt.Read(bufs, sizes, 4)
	if err != nil || n != 1 {
		t.Fatalf("read: %d packets, %v", n, err)
	}
	return bufs[0][4 : 4+sizes[0]]
}

// TestProbeExchange walks a probe from A to B and its answer back through
// two wrapped devices: a request queued while A's Read blocks on the
// kernel wakes it, B answers without passing the request on, A records
// the answer without passing it on, and other packets pass untouched.
func TestProbeExchange(t *testing.T) {
	keyA, keyB := testKey(t), testKey(t)
	ta, tb := newPipeTUN(t), newPipeTUN(t)
	a, err := wrapTUN(ta, keyA)
	if err != nil {
		t.Fatal(err)
	}
	b, err := wrapTUN(tb, keyB)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte)
	go func() {
		bufs, sizes := [][]byte{make([]byte, 1500)}, make([]int, 1)
		n, err := a.Read(bufs, sizes, 4)
		if err != nil || n != 1 {
			got <- nil
			return
		}
		got <- bufs[0][4 : 4+sizes[0]]
	}()
	time.Sleep(20 * time.Millisecond) // let the reader block on the pipe
	sent := time.Unix(1000, 0)
	a.prober.request(keyB, sent)
	req := <-got
	if req == nil || len(req) != probeLen || !checksumOK(req) {
		t.Fatalf("request %x", req)
	}
	// The kernel's packets still come through after the wake-up.
	if _, err := ta.w.Write([]byte{0x45, 1, 2}); err != nil {
		t.Fatal(err)
	}
	if p := readOne(t, a); len(p) != 3 || p[0] != 0x45 {
		t.Fatalf("kernel packet after a wake-up: %x", p)
	}

	other := []byte{0x45, 0, 0, 20}
	if n, err := b.Write([][]byte{append([]byte{0, 0, 0, 0}, other...), append([]byte{0, 0, 0, 0}, req...)}, 4); err != nil || n != 2 {
		t.Fatalf("write at B: %d, %v", n, err)
	}
	if len(tb.written) != 1 || len(tb.written[0]) != 4 {
		t.Fatalf("B passed on %x, want only the other packet", tb.written)
	}
	rep := readOne(t, b)
	if rep[probeIPv6Len] != icmpEchoReply || !checksumOK(rep) {
		t.Fatalf("reply %x", rep)
	}
	if r := a.prober.reply(keyB); !r.Received.IsZero() {
		t.Fatalf("a reply before one arrived: %+v", r)
	}
	if _, err := a.Write([][]byte{append([]byte{0, 0, 0, 0}, rep...)}, 4); err != nil {
		t.Fatal(err)
	}
	if len(ta.written) != 0 {
		t.Fatalf("A passed the reply to the kernel: %x", ta.written)
	}
	r := a.prober.reply(keyB)
	if !r.Sent.Equal(sent) || r.Received.IsZero() {
		t.Errorf("recorded reply %+v, want sent at %v", r, sent)
	}
	// A request for someone else's probe address passes through.
	c := testKey(t)
	a.prober.request(c, sent)
	foreign := readOne(t, a)
	if _, err := b.Write([][]byte{append([]byte{0, 0, 0, 0}, foreign...)}, 4); err != nil {
		t.Fatal(err)
	}
	if len(tb.written) != 2 {
		t.Errorf("B took a probe for another address")
	}
	a.prober.forget(keyB)
	if r := a.prober.reply(keyB); !r.Received.IsZero() {
		t.Errorf("reply kept after forget: %+v", r)
	}
}

// checksumOK verifies the ICMPv6 checksum the RFC 4443 way: the sum over
// pseudo-header and message, checksum included, is all ones.
func checksumOK(pkt []byte) bool {
	var sum uint32
	for i := 8; i < 40; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(pkt[i:]))
	}
	msg := pkt[40:]
	sum += uint32(len(msg)) + 58
	for i := 0; i+1 < len(msg); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(msg[i:]))
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return sum == 0xffff
}

// TestProbeAnswersBounded: a source's flood of requests gets
// probeAnswersPerSecond answers a second, other sources theirs; anything
// else addressed to the probe address is dropped, not passed on.
func TestProbeAnswersBounded(t *testing.T) {
	own, x, y := testKey(t), testKey(t), testKey(t)
	p := newProber(own, func() {})
	reqFrom := func(k PublicKey) []byte {
		return buildProbe(ProbeAddr(k).As16(), ProbeAddr(own).As16(), icmpEchoReq, 1)
	}
	t0 := time.Unix(100, 0)
	for range 3 * probeAnswersPerSecond {
		if !p.take(reqFrom(x), t0) {
			t.Fatal("a request was passed on")
		}
	}
	if !p.take(reqFrom(y), t0) || len(p.queue) != probeAnswersPerSecond+1 {
		t.Fatalf("%d answers queued, want %d", len(p.queue), probeAnswersPerSecond+1)
	}
	p.take(reqFrom(x), t0.Add(time.Second))
	if len(p.queue) != probeAnswersPerSecond+2 {
		t.Errorf("no answer in the next second")
	}
	other := reqFrom(x)
	other[probeIPv6Len] = 1 // not an echo
	udp := reqFrom(x)
	udp[6] = 17
	for _, pkt := range [][]byte{other, udp, reqFrom(x)[:probeIPv6Len]} {
		if !p.take(pkt, t0.Add(2*time.Second)) {
			t.Errorf("a packet to the probe address was passed on: %x", pkt)
		}
	}
	if len(p.queue) != probeAnswersPerSecond+2 {
		t.Errorf("a malformed packet was answered")
	}
}

// TestProbeQueueBounded: a flood of requests queues at most probeQueueMax
// answers.
func TestProbeQueueBounded(t *testing.T) {
	p := newProber(testKey(t), func() {})
	peer := testKey(t)
	for range 2 * probeQueueMax {
		p.request(peer, time.Unix(1, 0))
	}
	if len(p.queue) != probeQueueMax {
		t.Errorf("%d queued, want %d", len(p.queue), probeQueueMax)
	}
}

// TestProbeLastRequest: the newest request from a peer is recorded, even
// one beyond the answer bound; malformed packets and other peers' requests
// are not; forget drops it.
func TestProbeLastRequest(t *testing.T) {
	own, x, y := testKey(t), testKey(t), testKey(t)
	p := newProber(own, func() {})
	if got := p.lastRequest(x); !got.IsZero() {
		t.Fatalf("last request before any: %v", got)
	}
	t0 := time.Unix(100, 0)
	req := buildProbe(ProbeAddr(x).As16(), ProbeAddr(own).As16(), icmpEchoReq, 1)
	for i := range 2 * probeAnswersPerSecond {
		p.take(req, t0.Add(time.Duration(i)*time.Millisecond))
	}
	want := t0.Add((2*probeAnswersPerSecond - 1) * time.Millisecond)
	if got := p.lastRequest(x); !got.Equal(want) {
		t.Errorf("last request %v, want %v (the newest, past the answer bound)", got, want)
	}
	bad := buildProbe(ProbeAddr(x).As16(), ProbeAddr(own).As16(), icmpEchoReq, 1)
	bad[probeIPv6Len] = 1 // not an echo
	p.take(bad, t0.Add(time.Hour))
	if got := p.lastRequest(x); !got.Equal(want) {
		t.Errorf("a malformed packet moved the last request to %v", got)
	}
	if got := p.lastRequest(y); !got.IsZero() {
		t.Errorf("another peer's last request: %v", got)
	}
	p.forget(x)
	if got := p.lastRequest(x); !got.IsZero() {
		t.Errorf("last request kept after forget: %v", got)
	}
}
