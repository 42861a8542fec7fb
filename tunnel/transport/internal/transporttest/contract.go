package transporttest

import (
	"errors"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"

	"intransit/tunnel/transport"
	"intransit/tunnel/transport/internal/linkbind"
)

// Factory makes the Binds of one connection-oriented transport for the
// contract suite.
type Factory struct {
	// NewServer returns a Bind that accepts connections (and can dial),
	// and expects its peers to listen on peerPort (the transport's default
	// if 0).
	NewServer func(t *testing.T, peerPort uint16) transport.Bind
	// NewClient returns a dial-only Bind whose connections queue at most
	// queueLen messages (the transport's default if 0).
	NewClient func(t *testing.T, queueLen int) transport.Bind
	// NewAcceptOnly returns a Bind that accepts connections and cannot
	// dial (no client TLS configuration), as a point-to-site gateway's.
	NewAcceptOnly func(t *testing.T) transport.Bind
	// Dropped reads a Bind's count of messages dropped on a full queue.
	Dropped func(b transport.Bind) uint64
	// Break connects to a server at addr and misbehaves in every way the
	// transport must survive, then hangs up abruptly.
	Break func(t *testing.T, addr netip.AddrPort)
	// Stall returns an address that accepts connections but never
	// completes a handshake.
	Stall func(t *testing.T) netip.AddrPort
	// MsgSize is the largest message the transport carries over loopback.
	MsgSize int
}

// RunContract runs the transport.Bind contract tests for f.
func RunContract(t *testing.T, f Factory) {
	t.Run("Exchange", func(t *testing.T) { testExchange(t, f) })
	t.Run("DropWhenFull", func(t *testing.T) { testDropWhenFull(t, f) })
	t.Run("ServerRestart", func(t *testing.T) { testServerRestart(t, f) })
	t.Run("BrokenPeer", func(t *testing.T) { testBrokenPeer(t, f) })
	t.Run("Roaming", func(t *testing.T) { testRoaming(t, f) })
	t.Run("DialBack", func(t *testing.T) { testDialBack(t, f) })
	t.Run("AcceptOnlyPeerGone", func(t *testing.T) { testAcceptOnlyPeerGone(t, f) })
	t.Run("ClosedAndForeign", func(t *testing.T) { testClosedAndForeign(t, f) })
}

// open opens b on port and starts receiving; cleanup closes it.
func open(t *testing.T, b transport.Bind, port uint16) (*Receiver, uint16) {
	t.Helper()
	fns, actual, err := b.Open(port)
	if err != nil {
		t.Fatalf("Open(%d): %v", port, err)
	}
	r := Receive(t, b, fns)
	t.Cleanup(func() {
		b.Close()
		r.Wait()
	})
	return r, actual
}

func endpoint(t *testing.T, b transport.Bind, port uint16) conn.Endpoint {
	t.Helper()
	ep, err := b.ParseEndpoint(b.Scheme() + "://127.0.0.1:" + strconv.Itoa(int(port)))
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

// exchange sends rounds of batch-sized bursts from a to epB and checks
// that each burst arrives whole at rb, starting at sequence number base.
func exchange(t *testing.T, a transport.Bind, epB conn.Endpoint, rb *Receiver, size, rounds, batch int, base uint32) {
	t.Helper()
	rb.Drain()
	bufs := make([][]byte, batch)
	for round := range rounds {
		first := base + uint32(round*batch)
		for i := range bufs {
			bufs[i] = Message(first+uint32(i), size)
		}
		if err := a.Send(bufs, epB); err != nil {
			t.Fatalf("Send: %v", err)
		}
		// Send must not keep the caller's buffers: spoil them at once.
		for _, b := range bufs {
			clear(b)
		}
		rb.Expect(t, first, first+uint32(batch), 10*time.Second)
	}
}

func testExchange(t *testing.T, f Factory) {
	srv := f.NewServer(t, 0)
	rs, port := open(t, srv, 0)
	cli := f.NewClient(t, 0)
	rc, _ := open(t, cli, 0)
	ep := endpoint(t, cli, port)

	back := Pump(t, cli, ep, rs, f.MsgSize, 1<<20, 10*time.Second)
	if !srv.Owns(back) {
		t.Fatalf("server got endpoint %q, not one of its own", back.DstToString())
	}
	exchange(t, cli, ep, rs, f.MsgSize, 40, 64, 1000)
	exchange(t, srv, back, rc, f.MsgSize, 40, 64, 5000)
	// Small messages too: a WireGuard keepalive is 32 bytes.
	exchange(t, cli, ep, rs, 32, 4, 64, 9000)

	rc.Drain()
	if err := srv.Send([][]byte{Message(1, 100)}, back); err != nil {
		t.Fatal(err)
	}
	got := rc.Expect(t, 1, 2, 10*time.Second)
	if got.DstToString() != ep.DstToString() {
		t.Fatalf("client received on endpoint %q, want %q", got.DstToString(), ep.DstToString())
	}
}

func testDropWhenFull(t *testing.T, f Factory) {
	const queueLen = 8
	cli := f.NewClient(t, queueLen)
	open(t, cli, 0)
	stall := f.Stall(t)
	ep, err := cli.ParseEndpoint(cli.Scheme() + "://" + stall.String())
	if err != nil {
		t.Fatal(err)
	}
	bufs := make([][]byte, 100)
	for i := range bufs {
		bufs[i] = Message(uint32(i), f.MsgSize)
	}
	const sends = 200
	done := make(chan error, 1)
	go func() {
		for range sends {
			if err := cli.Send(bufs, ep); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Send while the connection stalls: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Send blocked on a stalled connection")
	}
	// The queue empties only when a dial fails, which takes the handshake
	// timeout; allow a few such refills.
	if d, want := f.Dropped(cli), uint64(sends*100-4*queueLen); d < want {
		t.Fatalf("dropped %d messages, want at least %d (queue of %d)", d, want, queueLen)
	}
}

func testServerRestart(t *testing.T, f Factory) {
	srv := f.NewServer(t, 0)
	fns, port, err := srv.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	rs := Receive(t, srv, fns)
	cli := f.NewClient(t, 0)
	rc, _ := open(t, cli, 0)
	ep := endpoint(t, cli, port)
	Pump(t, cli, ep, rs, f.MsgSize, 2<<20, 10*time.Second)

	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	rs.Wait()
	fns, again, err := srv.Open(port)
	if err != nil {
		t.Fatalf("reopen on port %d: %v", port, err)
	}
	if again != port {
		t.Fatalf("reopened on port %d, asked for %d", again, port)
	}
	rs = Receive(t, srv, fns)
	t.Cleanup(func() {
		srv.Close()
		rs.Wait()
	})
	back := Pump(t, cli, ep, rs, f.MsgSize, 3<<20, 30*time.Second)
	exchange(t, cli, ep, rs, f.MsgSize, 5, 64, 100)
	exchange(t, srv, back, rc, f.MsgSize, 5, 64, 500)
}

func testBrokenPeer(t *testing.T, f Factory) {
	srv := f.NewServer(t, 0)
	rs, port := open(t, srv, 0)
	cli := f.NewClient(t, 0)
	open(t, cli, 0)
	ep := endpoint(t, cli, port)
	Pump(t, cli, ep, rs, f.MsgSize, 4<<20, 10*time.Second)
	for range 3 {
		f.Break(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port))
		exchange(t, cli, ep, rs, f.MsgSize, 5, 64, 100)
	}
}

func testRoaming(t *testing.T, f Factory) {
	srv := f.NewServer(t, 0)
	rs, port := open(t, srv, 0)

	cli1 := f.NewClient(t, 0)
	rc1, _ := open(t, cli1, 0)
	ep1 := Pump(t, cli1, endpoint(t, cli1, port), rs, f.MsgSize, 5<<20, 10*time.Second)
	exchange(t, srv, ep1, rc1, f.MsgSize, 2, 16, 100)
	cli1.Close()

	cli2 := f.NewClient(t, 0)
	rc2, _ := open(t, cli2, 0)
	ep2 := Pump(t, cli2, endpoint(t, cli2, port), rs, f.MsgSize, 6<<20, 10*time.Second)
	// The address may even be the same (ports get reused); the endpoint
	// must still be the new connection's.
	if ep2 == ep1 {
		t.Fatalf("the new connection came with the old endpoint %q", ep1.DstToString())
	}
	exchange(t, srv, ep2, rc2, f.MsgSize, 2, 16, 200)
}

// testDialBack ends the connection a peer made and checks that sending to
// the endpoint it came with dials the peer back on its listening port: the
// way WireGuard's "answer where it came from" survives a dead connection.
func testDialBack(t *testing.T, f Factory) {
	peer := f.NewServer(t, 0)
	rp, peerPort := open(t, peer, 0)
	srv := f.NewServer(t, peerPort)
	rs, port := open(t, srv, 0)
	back := Pump(t, peer, endpoint(t, peer, port), rs, f.MsgSize, 7<<20, 10*time.Second)

	// The peer restarts on the same port: its connection is gone.
	if err := peer.Close(); err != nil {
		t.Fatal(err)
	}
	rp.Wait()
	fns, again, err := peer.Open(peerPort)
	if err != nil || again != peerPort {
		t.Fatalf("reopen on port %d: %d, %v", peerPort, again, err)
	}
	rp = Receive(t, peer, fns)
	t.Cleanup(func() {
		peer.Close()
		rp.Wait()
	})
	got := Pump(t, srv, back, rp, f.MsgSize, 8<<20, 30*time.Second)
	if !peer.Owns(got) {
		t.Fatalf("peer received on endpoint %q, not one of its own", got.DstToString())
	}
}

// testAcceptOnlyPeerGone: a Bind that cannot dial, sending to a peer whose
// connection has ended, drops and counts the messages (Unreachable) and
// never tries to dial it.
func testAcceptOnlyPeerGone(t *testing.T, f Factory) {
	srv := f.NewAcceptOnly(t)
	rs, port := open(t, srv, 0)
	cli := f.NewClient(t, 0)
	rc, _ := open(t, cli, 0)
	back := Pump(t, cli, endpoint(t, cli, port), rs, f.MsgSize, 9<<20, 10*time.Second)
	if err := cli.Close(); err != nil {
		t.Fatal(err)
	}
	rc.Wait()
	ls, ok := srv.(interface{ LinkStats() linkbind.Stats })
	if !ok {
		t.Fatalf("%T has no LinkStats", srv)
	}
	deadline := time.Now().Add(10 * time.Second)
	for ls.LinkStats().Unreachable == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("nothing counted unreachable 10 s after the peer left: %+v", ls.LinkStats())
		}
		if err := srv.Send([][]byte{Message(0, 64)}, back); err != nil {
			t.Fatalf("Send to a gone peer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := ls.LinkStats(); st.Dials != 0 {
		t.Fatalf("an accept-only Bind dialed %d times", st.Dials)
	}
}

func testClosedAndForeign(t *testing.T, f Factory) {
	srv := f.NewServer(t, 0)
	fns, port, err := srv.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := srv.Open(0); !errors.Is(err, conn.ErrBindAlreadyOpen) {
		t.Fatalf("second Open: %v, want ErrBindAlreadyOpen", err)
	}
	r := Receive(t, srv, fns)
	if err := srv.Send([][]byte{Message(0, 64)}, &conn.StdNetEndpoint{}); !errors.Is(err, conn.ErrWrongEndpointType) {
		t.Fatalf("Send to a UDP endpoint: %v, want ErrWrongEndpointType", err)
	}
	ep := endpoint(t, srv, port)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	r.Wait()
	if err := srv.Send([][]byte{Message(0, 64)}, ep); err == nil {
		t.Fatal("Send on a closed Bind succeeded")
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
