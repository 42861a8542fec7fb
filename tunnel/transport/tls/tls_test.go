package tls

import (
	"context"
	cryptotls "crypto/tls"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"intransit/tunnel/transport"
	"intransit/tunnel/transport/internal/linkbind"
	"intransit/tunnel/transport/internal/transporttest"
)

func TestContract(t *testing.T) {
	server, client := transporttest.TLSConfigs(t, "pq")
	fast := func(c Config) Config {
		c.BackoffMin, c.BackoffMax = 20*time.Millisecond, 200*time.Millisecond
		c.HandshakeTimeout = 2 * time.Second
		return c
	}
	transporttest.RunContract(t, transporttest.Factory{
		NewServer: func(t *testing.T, peerPort uint16) transport.Bind {
			b, err := New(fast(Config{ServerTLS: server, ClientTLS: client, PeerPort: peerPort}))
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		NewAcceptOnly: func(t *testing.T) transport.Bind {
			b, err := New(fast(Config{ServerTLS: server}))
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		NewClient: func(t *testing.T, queueLen int) transport.Bind {
			b, err := New(fast(Config{ClientTLS: client, QueueLen: queueLen}))
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		Dropped: func(b transport.Bind) uint64 { return b.(*Bind).Stats().Dropped },
		Break:   func(t *testing.T, addr netip.AddrPort) { breakServer(t, addr, client) },
		Stall:   stall,
		MsgSize: 1420 + transport.WireGuardOverhead,
	})
}

// breakServer misbehaves towards a tls transport server: garbage instead
// of TLS, the wrong ALPN, then a proper connection that sends an oversized
// frame, a valid one, half a frame and hangs up.
func breakServer(t *testing.T, addr netip.AddrPort, client *cryptotls.Config) {
	t.Helper()
	raw, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	raw.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	raw.Close()

	wrong := client.Clone()
	wrong.NextProtos = []string{"h2"}
	if c, err := cryptotls.Dial("tcp", addr.String(), wrong); err == nil {
		// A TLS 1.3 client learns of the refusal on its first read.
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Error("the server talked to a client without our ALPN")
		}
		c.Close()
	}

	good := client.Clone()
	good.NextProtos = []string{transport.ALPN}
	c, err := cryptotls.Dial("tcp", addr.String(), good)
	if err != nil {
		t.Fatalf("proper TLS connection: %v", err)
	}
	var b []byte
	b = binary.BigEndian.AppendUint16(b, 60000)
	b = append(b, make([]byte, 60000)...)
	b = AppendFrame(b, transporttest.Message(4000000, 200))
	b = append(b, 0x05, 0xdc, 1, 2, 3)
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	c.NetConn().Close()
}

// stall returns a TCP address that accepts connections and never answers.
func stall(t *testing.T) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	held := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case held <- c:
			case <-ctx.Done():
				c.Close()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		ln.Close()
		for {
			select {
			case c := <-held:
				c.Close()
			default:
				return
			}
		}
	})
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

func TestNewRefuses(t *testing.T) {
	server, _ := transporttest.TLSConfigs(t, "modern")
	old := server.Clone()
	old.MaxVersion = cryptotls.VersionTLS12
	for name, cfg := range map[string]Config{
		"no TLS config":    {},
		"TLS 1.2 only":     {ServerTLS: old},
		"tiny frame limit": {ServerTLS: server, MaxMessageSize: 100},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

func TestOversizedFramesCounted(t *testing.T) {
	server, client := transporttest.TLSConfigs(t, "modern")
	srv, err := New(Config{ServerTLS: server})
	if err != nil {
		t.Fatal(err)
	}
	fns, port, err := srv.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	r := transporttest.Receive(t, srv, fns)
	defer func() {
		srv.Close()
		r.Wait()
	}()
	breakServer(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port), client)
	r.Expect(t, 4000000, 4000001, 10*time.Second)
	if n := srv.Stats().OversizedFrames; n != 1 {
		t.Fatalf("OversizedFrames = %d, want 1", n)
	}
}

// TestSilentHangupBacksOff dials a server that completes the handshake and
// hangs up at once (as a TLS 1.3 server does when it refuses the client's
// certificate): the Bind keeps being asked to send, and must redial with
// backoff rather than in a tight loop.
func TestSilentHangupBacksOff(t *testing.T) {
	server, client := transporttest.TLSConfigs(t, "modern")
	server, err := linkbind.WithALPN(server)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := cryptotls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*cryptotls.Conn).Handshake()
			c.Close()
		}
	}()
	b, err := New(Config{ClientTLS: client, BackoffMin: 300 * time.Millisecond, BackoffMax: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	fns, _, err := b.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	r := transporttest.Receive(t, b, fns)
	defer func() { b.Close(); r.Wait() }()
	ep, err := b.ParseEndpoint("tls://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	// 1000 sends over about a second: without backoff every one of them
	// would find the connection gone and dial again.
	for i := range 1000 {
		if err := b.Send([][]byte{transporttest.Message(uint32(i), 100)}, ep); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	// With waits of 0.3, 0.6 and 1 s between dials, the second or so of
	// sending leaves room for at most 4 dials.
	if st := b.Stats(); st.DialFailures > 0 {
		t.Fatalf("dials failed: %+v", st)
	}
	if d := b.Stats().Dials; d < 2 || d > 4 {
		t.Fatalf("%d dials in 1000 sends to a server that hangs up: want 2 to 4 (it redials, with backoff)", d)
	}
}

// TestCloseWithWriterBlocked fills a connection to a peer that never reads,
// so that the writer is stuck in a write (write timeout and dead-connection
// timeout both an hour), and checks that Close still returns: it must close
// the connection under the writer rather than wait for it.
func TestCloseWithWriterBlocked(t *testing.T) {
	server, client := transporttest.TLSConfigs(t, "modern")
	server, err := linkbind.WithALPN(server)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := cryptotls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	held := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.(*cryptotls.Conn).Handshake()
		held <- c
	}()
	b, err := New(Config{ClientTLS: client, WriteTimeout: time.Hour, DeadAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	fns, _, err := b.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	r := transporttest.Receive(t, b, fns)
	ep, err := b.ParseEndpoint("tls://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	bufs := make([][]byte, 64)
	for i := range bufs {
		bufs[i] = transporttest.Message(uint32(i), 1452)
	}
	// 64 MiB offered, far more than the socket buffers of both ends hold.
	for range 720 {
		if err := b.Send(bufs, ep); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	if st := b.Stats(); st.Dropped == 0 {
		t.Fatalf("nothing was dropped, so the writer never blocked: %+v", st)
	}
	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close waited for a writer blocked on a peer that does not read")
	}
	r.Wait()
	select {
	case c := <-held:
		c.Close()
	default:
	}
}
