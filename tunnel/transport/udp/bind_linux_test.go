//go:build linux

package udp

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"

	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
)

func TestForeignEndpoint(t *testing.T) {
	b := New()
	if _, _, err := b.Open(0); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	foreign := &struct{ conn.Endpoint }{}
	if b.Owns(foreign) {
		t.Fatal("Owns a foreign endpoint")
	}
	if err := b.Send([][]byte{{1}}, foreign); !errors.Is(err, conn.ErrWrongEndpointType) {
		t.Fatalf("Send to a foreign endpoint: %v, want conn.ErrWrongEndpointType", err)
	}
}

// TestStaleStickySource sends from a sticky source that is no address of
// the host (as after the address was removed): Send must drop the source
// and deliver from the address the kernel picks.
func TestStaleStickySource(t *testing.T) {
	a, b := openPeer(t, newBind, 0), openPeer(t, newBind, 0)
	for i, tc := range []struct{ dst, stale string }{
		{"127.0.0.1", "192.0.2.1"},
		{"::1", "2001:db8::1"},
	} {
		ep := b.endpoint(t, tc.dst).(*endpoint)
		ep.src = source{addr: netip.MustParseAddr(tc.stale), ifindex: 1}
		if err := a.b.Send([][]byte{message(0, uint32(i), 100)}, ep); err != nil {
			t.Fatalf("Send from stale source %s: %v", tc.stale, err)
		}
		if _, seq, err := checkMessage(b.next(t).data); err != nil || seq != uint32(i) {
			t.Fatalf("got message %d, %v", seq, err)
		}
		if ep.SrcIP().IsValid() {
			t.Errorf("source %s kept after the kernel refused it", ep.SrcIP())
		}
	}
}

// refusingGSO is a socket's batchConn as on a kernel that refuses
// UDP_SEGMENT on the route (EIO, for a device that cannot checksum; the
// test kernel checksums in software instead, so the refusal is injected):
// a batch with a GSO message fails, others go out on the real socket.
type refusingGSO struct {
	batchConn
	refused int
}

func (r *refusingGSO) WriteBatch(ms []ipv6.Message, flags int) (int, error) {
	for _, m := range ms {
		if ctl := parseSegment(m.OOB); ctl > 0 {
			r.refused++
			return 0, &net.OpError{Op: "write", Net: "udp", Err: os.NewSyscallError("sendmmsg", unix.EIO)}
		}
	}
	return r.batchConn.WriteBatch(ms, flags)
}

// parseSegment returns the UDP_SEGMENT size in control data b, or 0.
func parseSegment(b []byte) int {
	for len(b) >= unix.SizeofCmsghdr {
		h, data, rest, err := unix.ParseOneSocketControlMessage(b)
		if err != nil {
			return 0
		}
		if h.Level == unix.SOL_UDP && h.Type == unix.UDP_SEGMENT && len(data) >= 2 {
			return int(binary.NativeEndian.Uint16(data))
		}
		b = rest
	}
	return 0
}

// TestGSORefused checks the fallback when the kernel refuses GSO: Send
// says GSO is now off for the socket (conn.ErrUDPGSODisabled, with no
// error left), the batch arrives whole, and later batches go without GSO
// and without error.
func TestGSORefused(t *testing.T) {
	b := openPeer(t, newBind, 0)
	// The sender only sends: no receiver reads its sockets meanwhile.
	bb := newBind().(*batchBind)
	if _, _, err := bb.Open(0); err != nil {
		t.Fatal(err)
	}
	defer bb.Close()
	if !bb.v4.gso.Load() {
		t.Skip("the kernel offers no UDP GSO")
	}
	refusing := &refusingGSO{batchConn: bb.v4.pc}
	bb.v4.pc = refusing
	ep := b.endpoint(t, "127.0.0.1")
	const n = 10
	send := func(seq uint32) error {
		bufs := make([][]byte, n)
		for i := range bufs {
			bufs[i] = message(0, seq+uint32(i), 1000)
		}
		return bb.Send(bufs, ep)
	}
	err := send(0)
	var off conn.ErrUDPGSODisabled
	if !errors.As(err, &off) || off.RetryErr != nil {
		t.Fatalf("Send on a refused GSO: %v, want conn.ErrUDPGSODisabled with no retry error", err)
	}
	if err := send(n); err != nil {
		t.Fatalf("Send after the fallback: %v", err)
	}
	if refusing.refused != 1 || bb.v4.gso.Load() {
		t.Fatalf("GSO refused %d times, still on: %v", refusing.refused, bb.v4.gso.Load())
	}
	for want := range uint32(2 * n) {
		if _, seq, err := checkMessage(b.next(t).data); err != nil || seq != want {
			t.Fatalf("got message %d, want %d: %v", seq, want, err)
		}
	}
}
