package quic

import (
	"context"
	cryptotls "crypto/tls"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"intransit/tunnel/transport"
	"intransit/tunnel/transport/internal/transporttest"
)

func fast(c Config) Config {
	c.BackoffMin, c.BackoffMax = 20*time.Millisecond, 200*time.Millisecond
	c.HandshakeTimeout = 2 * time.Second
	c.IdleTimeout = 3 * time.Second
	return c
}

func TestContract(t *testing.T) {
	server, client := transporttest.TLSConfigs(t, "pq")
	inner := InnerMTU(transport.DefaultPathMTU)
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
		MsgSize: inner + transport.WireGuardOverhead,
	})
}

// breakServer misbehaves towards a quic transport server: datagrams that
// are not QUIC, a handshake with the wrong ALPN, one without datagram
// support, and a proper connection that sends junk and vanishes without
// closing.
func breakServer(t *testing.T, addr netip.AddrPort, client *cryptotls.Config) {
	t.Helper()
	u, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		u.Write(make([]byte, 10+i*25))
	}
	u.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	wrong := client.Clone()
	wrong.NextProtos = []string{"h3"}
	if c, err := quicgo.DialAddr(ctx, addr.String(), wrong, &quicgo.Config{EnableDatagrams: true}); err == nil {
		c.CloseWithError(0, "")
		t.Error("the server accepted a connection without our ALPN")
	}

	good := client.Clone()
	good.NextProtos = []string{transport.ALPN}
	if c, err := quicgo.DialAddr(ctx, addr.String(), good, &quicgo.Config{}); err == nil {
		// Without datagrams the server refuses it after the handshake.
		select {
		case <-c.Context().Done():
		case <-ctx.Done():
			t.Error("the server kept a connection without datagram support")
		}
	}

	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	tr := &quicgo.Transport{Conn: pc}
	c, err := tr.Dial(ctx, net.UDPAddrFromAddrPort(addr), good, &quicgo.Config{EnableDatagrams: true})
	if err != nil {
		t.Fatalf("proper QUIC connection: %v", err)
	}
	c.SendDatagram([]byte("not a WireGuard message"))
	time.Sleep(50 * time.Millisecond)
	// Vanish: the socket goes away under the connection.
	pc.Close()
	tr.Close()
}

// stall returns a UDP address that swallows every packet.
func stall(t *testing.T) netip.AddrPort {
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		b := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(b); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

func TestNewRefuses(t *testing.T) {
	_, client := transporttest.TLSConfigs(t, "modern")
	for name, cfg := range map[string]Config{
		"no TLS config":    {},
		"path 1279":        {ClientTLS: client, PathMTU: 1279},
		"path -1":          {ClientTLS: client, PathMTU: -1},
		"too many stripes": {ClientTLS: client, Stripes: MaxStripes + 1},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

// TestFullSizeDatagramFromTheStart checks that a message of the size
// InnerMTU promises fits a datagram on a fresh connection, before any path
// MTU discovery, and that a message beyond what a 1452-byte packet can hold
// is dropped and counted.
func TestFullSizeDatagramFromTheStart(t *testing.T) {
	server, client := transporttest.TLSConfigs(t, "modern")
	_, port, rs := open(t, Config{ServerTLS: server})
	cli, _, _ := open(t, Config{ClientTLS: client})

	full := InnerMTU(transport.DefaultPathMTU) + transport.WireGuardOverhead
	ep, err := cli.ParseEndpoint("quic://127.0.0.1:" + itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	transporttest.Pump(t, cli, ep, rs, full, 1<<20, 10*time.Second)
	if err := cli.Send([][]byte{transporttest.Message(7, MaxUDPPayload), transporttest.Message(8, full)}, ep); err != nil {
		t.Fatal(err)
	}
	rs.Expect(t, 8, 9, 10*time.Second)
	if n := cli.Stats().TooLarge; n != 1 {
		t.Fatalf("TooLarge = %d, want 1", n)
	}
}

// open makes a Bind of cfg (with fast timers), opens it on a free port
// and receives on it until the test ends, when it is closed.
func open(t *testing.T, cfg Config) (*Bind, uint16, *transporttest.Receiver) {
	t.Helper()
	b, err := New(fast(cfg))
	if err != nil {
		t.Fatal(err)
	}
	fns, port, err := b.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	r := transporttest.Receive(t, b, fns)
	t.Cleanup(func() { b.Close(); r.Wait() })
	return b, port, r
}

func itoa(p uint16) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[len("0.0.0.0:"):]
}

// TestStripesMakeOneLink checks that the connections of a dialed group
// reach the accepting Bind as one link with one Endpoint, that every
// stripe carries messages there (a stripe the server refused would end the
// client's link and lose what was written on it), and that the server
// answers on the group.
func TestStripesMakeOneLink(t *testing.T) {
	server, client := transporttest.TLSConfigs(t, "modern")
	for _, stripes := range []int{1, 3, MaxStripes} {
		t.Run(itoa(uint16(stripes)), func(t *testing.T) {
			srv, port, rs := open(t, Config{ServerTLS: server})
			cli, _, rc := open(t, Config{ClientTLS: client, Stripes: stripes})
			ep, err := cli.ParseEndpoint("quic://127.0.0.1:" + itoa(port))
			if err != nil {
				t.Fatal(err)
			}
			back := transporttest.Pump(t, cli, ep, rs, 100, 1<<20, 10*time.Second)
			rs.Drain()

			// Enough runs for every stripe to get several, sent slowly
			// enough that no queue overflows.
			total := 4 * stripes * stripeRun
			for first := 0; first < total; first += stripeRun {
				bufs := make([][]byte, stripeRun)
				for i := range bufs {
					bufs[i] = transporttest.Message(uint32(first+i), 200)
				}
				if err := cli.Send(bufs, ep); err != nil {
					t.Fatal(err)
				}
				time.Sleep(2 * time.Millisecond)
			}
			seen := make(map[uint32]bool)
			deadline := time.After(10 * time.Second)
			for len(seen) < total {
				select {
				case m := <-rs.C:
					seq, ok := transporttest.Seq(m.Msg)
					if !ok {
						t.Fatalf("message %d corrupted", seq)
					}
					if m.EP != back {
						t.Fatalf("message %d arrived on endpoint %p, the group's is %p", seq, m.EP, back)
					}
					seen[seq] = true
				case <-deadline:
					t.Fatalf("%d of %d messages arrived", len(seen), total)
				}
			}
			if st := srv.Stats(); st.Accepted != 1 || st.HandshakeFailures != 0 {
				t.Fatalf("server: %d links accepted, %d refused; want 1 and 0", st.Accepted, st.HandshakeFailures)
			}
			if st := cli.Stats(); st.Dials != 1 || st.DialFailures != 0 {
				t.Fatalf("client: %d dials, %d failed; want 1 and 0", st.Dials, st.DialFailures)
			}
			rc.Drain()
			if err := srv.Send([][]byte{transporttest.Message(1, 100)}, back); err != nil {
				t.Fatal(err)
			}
			rc.Expect(t, 1, 2, 10*time.Second)
		})
	}
}

// TestFullSizePacketsFillThePacketSize checks, through a UDP relay that
// looks at every packet, that a full-size message makes a 1-RTT packet of
// exactly the packet size: quic-go batches packets into one GSO send only
// while they are that size (see connectionIDLength). It holds at the
// default path MTU and at the smallest one.
func TestFullSizePacketsFillThePacketSize(t *testing.T) {
	for _, mtu := range []int{transport.DefaultPathMTU, transport.MinPathMTU} {
		t.Run(itoa(uint16(mtu)), func(t *testing.T) { testFullSizePackets(t, mtu) })
	}
}

func testFullSizePackets(t *testing.T, pathMTU int) {
	server, client := transporttest.TLSConfigs(t, "modern")
	_, port, rs := open(t, Config{ServerTLS: server, PathMTU: pathMTU})

	relay, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	toServer := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
	want := PacketSize(pathMTU)
	var large, exact, tooBig atomic.Int64
	go func() {
		var from netip.AddrPort
		buf := make([]byte, 2048)
		for {
			n, src, err := relay.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if src == toServer {
				relay.WriteToUDPAddrPort(buf[:n], from)
				continue
			}
			from = src
			if n > want {
				tooBig.Add(1)
			}
			if buf[0]&0x80 == 0 && n > want-PacketOverhead {
				large.Add(1)
				if n == want {
					exact.Add(1)
				}
			}
			relay.WriteToUDPAddrPort(buf[:n], toServer)
		}
	}()

	cli, _, _ := open(t, Config{ClientTLS: client, Stripes: 1, PathMTU: pathMTU})
	ep, err := cli.ParseEndpoint("quic://" + relay.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	full := InnerMTU(pathMTU) + transport.WireGuardOverhead
	transporttest.Pump(t, cli, ep, rs, full, 1<<20, 10*time.Second)
	rs.Drain()
	batch := make([][]byte, 32)
	for i := range batch {
		batch[i] = transporttest.Message(uint32(i), full)
	}
	if err := cli.Send(batch, ep); err != nil {
		t.Fatal(err)
	}
	rs.Expect(t, 0, uint32(len(batch)), 10*time.Second)
	if n := tooBig.Load(); n > 0 {
		t.Errorf("%d packets from the client exceeded the packet size %d of a %d-byte path", n, want, pathMTU)
	}
	if large.Load() == 0 || exact.Load() != large.Load() {
		t.Fatalf("%d of %d full-size 1-RTT packets were %d bytes long", exact.Load(), large.Load(), want)
	}
}
