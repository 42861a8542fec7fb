package linkbind

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"golang.zx2c4.com/wireguard/conn"
)

// TestNoDialerDropsForAGonePeer: a Bind without a Dialer (one that only
// accepts) asked to send to a peer whose accepted connection has ended, or
// to a destination it would have to dial, drops and counts the messages
// and starts no dialing goroutine, however often it is asked.
func TestNoDialerDropsForAGonePeer(t *testing.T) {
	c := New(Config{Scheme: "test", DefaultPort: 443})
	fns, err := c.Start(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := c.current()
	gone := &serverLink{sess: s, out: newOutbox(1, c.pool)}
	gone.ep = newEndpoint("test", netip.MustParseAddrPort("192.0.2.7:40000"), gone)
	gone.gone.Store(true)
	dst, err := c.ParseEndpoint("test://192.0.2.8:443")
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		for _, ep := range []conn.Endpoint{gone.ep, dst} {
			if err := c.Send([][]byte{{1, 2, 3}, {4}}, ep); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := c.Stats().Unreachable; got != 400 {
		t.Errorf("Unreachable = %d, want 400", got)
	}
	s.mu.Lock()
	n := len(s.clients)
	s.mu.Unlock()
	if n != 0 {
		t.Errorf("%d dialing links started by a Bind that cannot dial", n)
	}
	if st := c.Stats(); st.Dials != 0 || st.Queued != 0 {
		t.Errorf("stats %+v: nothing may be dialed or queued", st)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	bufs, sizes, eps := [][]byte{make([]byte, 64)}, []int{0}, []conn.Endpoint{nil}
	if _, err := fns[0](bufs, sizes, eps); !errors.Is(err, net.ErrClosed) {
		t.Errorf("receive after Stop = %v, want net.ErrClosed", err)
	}
}
