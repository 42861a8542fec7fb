//go:build linux

package udp

import (
	"errors"
	"net/netip"
	"testing"

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
