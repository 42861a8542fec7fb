package multi

import (
	cryptotls "crypto/tls"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"

	"intransit/tunnel/transport"
	"intransit/tunnel/transport/internal/transporttest"
	"intransit/tunnel/transport/quic"
	tlstransport "intransit/tunnel/transport/tls"
	"intransit/tunnel/transport/udp"
)

type binds struct {
	multi *Bind
	quic  *quic.Bind
	tls   *tlstransport.Bind
}

func newBinds(t *testing.T, srvCfg, cliCfg *cryptotls.Config) binds {
	t.Helper()
	q, err := quic.New(quic.Config{ServerTLS: srvCfg, ClientTLS: cliCfg})
	if err != nil {
		t.Fatal(err)
	}
	tl, err := tlstransport.New(tlstransport.Config{ServerTLS: srvCfg, ClientTLS: cliCfg})
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Member{Bind: udp.New()}, Member{Bind: q}, Member{Bind: tl})
	if err != nil {
		t.Fatal(err)
	}
	return binds{multi: m, quic: q, tls: tl}
}

// TestGatewayServesAllTransports runs a gateway with every transport and a
// client with every transport: messages reach the gateway on each, and the
// gateway's replies, sent to the endpoints it received, leave on the same
// transport.
func TestGatewayServesAllTransports(t *testing.T) {
	srvCfg, cliCfg := transporttest.TLSConfigs(t, "pq")
	gw := newBinds(t, srvCfg, cliCfg)
	// The first member takes the device's port; the others their own
	// (0 picks one here, 443 in production).
	fns, udpPort, err := gw.multi.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) < 3 {
		t.Fatalf("%d ReceiveFuncs, want one per transport at least", len(fns))
	}
	rg := transporttest.Receive(t, gw.multi, fns)
	defer func() { gw.multi.Close(); rg.Wait() }()

	cl := newBinds(t, nil, cliCfg)
	cfns, _, err := cl.multi.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	rc := transporttest.Receive(t, cl.multi, cfns)
	defer func() { cl.multi.Close(); rc.Wait() }()

	quicPort := port(t, gw.quic)
	tlsPort := port(t, gw.tls)
	for i, s := range []string{
		"127.0.0.1:" + strconv.Itoa(int(udpPort)),
		"quic://127.0.0.1:" + quicPort,
		"tls://127.0.0.1:" + tlsPort,
	} {
		ep, err := cl.multi.ParseEndpoint(s)
		if err != nil {
			t.Fatal(err)
		}
		scheme := []string{transport.UDP, transport.QUIC, transport.TLS}[i]
		base := uint32(i+1) << 20
		back := transporttest.Pump(t, cl.multi, ep, rg, 1200, base, 10*time.Second)
		if !strings.HasPrefix(back.DstToString(), scheme+"://") && scheme != transport.UDP {
			t.Fatalf("gateway received %s traffic on endpoint %q", scheme, back.DstToString())
		}
		rc.Drain()
		if err := gw.multi.Send([][]byte{transporttest.Message(base+999, 1200)}, back); err != nil {
			t.Fatalf("reply over %s: %v", scheme, err)
		}
		got := rc.Expect(t, base+999, base+1000, 10*time.Second)
		if got.DstToString() != ep.DstToString() {
			t.Fatalf("reply over %s came on endpoint %q, want %q", scheme, got.DstToString(), ep.DstToString())
		}
	}
}

// port returns the port a member listens on.
func port(t *testing.T, b transport.Bind) string {
	t.Helper()
	switch b := b.(type) {
	case *quic.Bind:
		return strconv.Itoa(int(b.LocalPort()))
	case *tlstransport.Bind:
		return strconv.Itoa(int(b.LocalPort()))
	}
	t.Fatalf("no port for %T", b)
	return ""
}

func TestParseEndpointDispatch(t *testing.T) {
	_, cliCfg := transporttest.TLSConfigs(t, "pq")
	m := newBinds(t, nil, cliCfg).multi
	for _, tc := range []struct {
		in, scheme string
		bad        bool
	}{
		{in: "192.0.2.1:51820", scheme: transport.UDP},
		{in: "udp://192.0.2.1", scheme: transport.UDP},
		{in: "quic://192.0.2.1", scheme: transport.QUIC},
		{in: "QUIC://[2001:db8::1]:8443", scheme: transport.QUIC},
		{in: "tls://192.0.2.1:443", scheme: transport.TLS},
		{in: "wss://192.0.2.1:443", bad: true},
		{in: "tls://gw.example:443", bad: true},
	} {
		ep, err := m.ParseEndpoint(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseEndpoint(%q) succeeded", tc.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseEndpoint(%q): %v", tc.in, err)
			continue
		}
		owners := 0
		for _, mb := range m.members {
			if mb.Bind.Owns(ep) {
				owners++
				if mb.Bind.Scheme() != tc.scheme {
					t.Errorf("ParseEndpoint(%q) went to %s, want %s", tc.in, mb.Bind.Scheme(), tc.scheme)
				}
			}
		}
		if owners != 1 {
			t.Errorf("ParseEndpoint(%q): %d members own the endpoint", tc.in, owners)
		}
	}
	if err := m.Send(nil, &foreign{}); !errors.Is(err, conn.ErrWrongEndpointType) {
		t.Errorf("Send to a foreign endpoint: %v", err)
	}
	if _, err := New(); err == nil {
		t.Error("New() with no members succeeded")
	}
	if _, err := New(Member{Bind: udp.New()}, Member{Bind: udp.New()}); err == nil {
		t.Error("New with two UDP members succeeded")
	}
}

// TestOpenFailureClosesTheOthers occupies the TLS member's port: Open
// fails, names the member, and leaves the UDP member closed, so the same
// port can be opened again.
func TestOpenFailureClosesTheOthers(t *testing.T) {
	busy, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	srvCfg, cliCfg := transporttest.TLSConfigs(t, "pq")
	b := newBinds(t, srvCfg, cliCfg)
	m, err := New(Member{Bind: b.multi.members[0].Bind}, Member{Bind: b.tls, Port: uint16(busy.Addr().(*net.TCPAddr).Port)})
	if err != nil {
		t.Fatal(err)
	}
	u, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	free := uint16(u.LocalAddr().(*net.UDPAddr).Port)
	u.Close()
	if _, _, err := m.Open(free); err == nil || !strings.Contains(err.Error(), "tls") {
		t.Fatalf("Open with the TLS port taken: %v", err)
	}
	again := udp.New()
	if _, _, err := again.Open(free); err != nil {
		t.Fatalf("the UDP member still holds port %d: %v", free, err)
	}
	again.Close()
}

type foreign struct{ conn.StdNetEndpoint }
