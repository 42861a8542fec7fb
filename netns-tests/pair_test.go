package netnstests

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"intransit/internal/testutil/certs"
	"intransit/netns-tests/netlab"
	"intransit/netns-tests/testpeer"
	"intransit/tunnel/transport"
	"intransit/tunnel/transport/registry"
)

// Addresses of the two-host topology: the underlay link between a and b,
// and the tunnel's inner network.
const (
	underA4, underB4 = "10.0.0.1", "10.0.0.2"
	underA6, underB6 = "fd00:1::1", "fd00:1::2"
	innerA4, innerB4 = "10.99.0.1", "10.99.0.2"
	innerA6, innerB6 = "fd99::1", "fd99::2"
	wgPort           = 51820
)

// pairOptions vary the two endpoints of newPair.
type pairOptions struct {
	// transport is the testpeer transport (default udp). For quic and tls,
	// newPair issues certificates from a test CA (IP SANs of the underlay
	// addresses) and both endpoints accept and dial with mTLS.
	transport string
	// port both endpoints listen on; 0 means the transport's default
	// (51820 for udp, 443 for quic and tls).
	port uint16
	// disableOffloads opens endpoint a's TUN device without offloads.
	disableOffloads bool
}

// listenPort returns the port of the options.
func (o pairOptions) listenPort() uint16 {
	switch {
	case o.port != 0:
		return o.port
	case o.transport == testpeer.TransportQUIC:
		return transport.DefaultQUICPort
	case o.transport == testpeer.TransportTLS:
		return transport.DefaultTLSPort
	default:
		return transport.DefaultUDPPort
	}
}

// endpoint returns the endpoint string for addr in the options' transport.
func (o pairOptions) endpoint(addr string) string {
	ap := netip.AddrPortFrom(netip.MustParseAddr(addr), o.listenPort())
	if o.transport == "" || o.transport == testpeer.TransportUDP {
		return ap.String()
	}
	return transport.FormatEndpoint(o.transport, ap)
}

// pairTLS issues the certificates of both endpoints for the quic and tls
// transports and returns their tls sections.
func pairTLS(t *testing.T) (a, b *testpeer.TLS) {
	t.Helper()
	ca := certs.NewCA(t, "netns-tests CA")
	dir := t.TempDir()
	caFile := certs.WriteFile(t, dir, "ca.pem", ca.CertPEM)
	section := func(name, addr, other string) *testpeer.TLS {
		leaf := ca.Issue(certs.LeafOptions{CommonName: name, DNSNames: []string{name + ".netns.test"}, IPs: []net.IP{net.ParseIP(addr)}})
		return &testpeer.TLS{
			CertFile:   certs.WriteFile(t, dir, name+".pem", leaf.CertPEM),
			KeyFile:    certs.WriteFile(t, dir, name+".key", leaf.KeyPEM),
			CAFile:     caFile,
			ServerName: other + ".netns.test",
		}
	}
	return section("a", underA4, "b"), section("b", underB4, "a")
}

// pair is two hosts linked by one veth, each running a testpeer endpoint
// with the other as its peer.
type pair struct {
	lab    *netlab.Lab
	a, b   *netlab.Host
	link   *netlab.Link
	ea, eb *testpeer.Endpoint
}

// newPair builds the topology and starts both endpoints, without waiting
// for a handshake.
func newPair(t *testing.T, o pairOptions) *pair {
	t.Helper()
	lab := netlab.New(t)
	bin := testpeer.Build(t)
	p := &pair{lab: lab, a: lab.Host("a"), b: lab.Host("b")}
	p.link = lab.Link(p.a, p.b)
	p.link.A.AddAddr(underA4 + "/24")
	p.link.B.AddAddr(underB4 + "/24")
	p.link.A.AddAddr(underA6 + "/64")
	p.link.B.AddAddr(underB6 + "/64")
	scheme := o.transport
	if scheme == "" {
		scheme = testpeer.TransportUDP
	}
	mtu, err := registry.InnerMTU(scheme, transport.DefaultPathMTU)
	if err != nil {
		t.Fatal(err)
	}
	ka, kb := testpeer.NewKey(t), testpeer.NewKey(t)
	ca := testpeer.Config{
		Interface: "wg0", PrivateKey: ka.Base64(), ListenPort: o.listenPort(), Transport: o.transport, MTU: mtu,
		DisableOffloads: o.disableOffloads,
		Addresses:       []string{innerA4 + "/24", innerA6 + "/64"},
		Peers: []testpeer.Peer{{PublicKey: kb.PublicKey().String(), Endpoint: o.endpoint(underB4),
			AllowedIPs: []string{innerB4 + "/32", innerB6 + "/128"}}},
	}
	cb := testpeer.Config{
		Interface: "wg0", PrivateKey: kb.Base64(), ListenPort: o.listenPort(), Transport: o.transport, MTU: mtu,
		Addresses: []string{innerB4 + "/24", innerB6 + "/64"},
		Peers: []testpeer.Peer{{PublicKey: ka.PublicKey().String(), Endpoint: o.endpoint(underA4),
			AllowedIPs: []string{innerA4 + "/32", innerA6 + "/128"}}},
	}
	if o.transport == testpeer.TransportQUIC || o.transport == testpeer.TransportTLS {
		ca.TLS, cb.TLS = pairTLS(t)
	}
	p.ea = testpeer.Start(t, p.a, bin, ca)
	p.eb = testpeer.Start(t, p.b, bin, cb)
	return p
}

// mustPing pings dst from h (count packets) and fails the test if any is lost.
func mustPing(t *testing.T, h *netlab.Host, dst string, count int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := h.Run(ctx, "ping", "-n", "-q", "-c", strconv.Itoa(count), "-i", "0.2", "-W", "5", dst)
	if err != nil {
		t.Fatalf("ping %s from %s: %v", dst, h.Name(), err)
	}
	sent, recv := pingCounts(string(out))
	if sent != count || recv != count {
		t.Fatalf("ping %s from %s: %d sent, %d received:\n%s", dst, h.Name(), sent, recv, out)
	}
}

var pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) (?:packets )?received`)

// pingCounts reads the summary line of iputils ping.
func pingCounts(out string) (sent, received int) {
	m := pingSummary.FindStringSubmatch(out)
	if m == nil {
		return -1, -1
	}
	sent, _ = strconv.Atoi(m[1])
	received, _ = strconv.Atoi(m[2])
	return sent, received
}

// transfer sends n pseudo-random bytes over TCP from one host to addr on
// another (the receiver listens on port 5201 of listenAddr) with the xfer
// program and fails the test unless the receiver got exactly the bytes sent,
// by length and SHA-256.
func transfer(t *testing.T, xfer string, from, to *netlab.Host, listenAddr string, n int64) {
	t.Helper()
	hostPort := fmt.Sprintf("[%s]:5201", listenAddr)
	recv := to.Start(xfer, "recv", "--listen", hostPort)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(recv.Output(), "listening") {
		if time.Now().After(deadline) {
			t.Fatalf("xfer receiver on %s did not start:\n%s", to.Name(), recv.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sent, err := from.Run(ctx, xfer, "send", "--to", hostPort, "--bytes", strconv.FormatInt(n, 10))
	if err != nil {
		t.Fatalf("xfer send: %v", err)
	}
	if err := recv.Wait(ctx); err != nil {
		t.Fatalf("xfer recv: %v\n%s", err, recv.Output())
	}
	want := strings.TrimSpace(string(sent))
	got := strings.TrimSpace(strings.TrimPrefix(recv.Output(), "listening\n"))
	if !strings.HasPrefix(want, fmt.Sprintf("bytes=%d ", n)) || got != want {
		t.Fatalf("transfer %s -> %s (%s): sent %q, received %q", from.Name(), to.Name(), listenAddr, want, got)
	}
}

// tunFlags reads the TUN flags of an interface from sysfs inside h.
func tunFlags(t *testing.T, h *netlab.Host, iface string) uint64 {
	t.Helper()
	out := strings.TrimSpace(h.MustRun("cat", "/sys/class/net/"+iface+"/tun_flags"))
	v, err := strconv.ParseUint(strings.TrimPrefix(out, "0x"), 16, 32)
	if err != nil {
		t.Fatalf("tun_flags of %s on %s: %q", iface, h.Name(), out)
	}
	return v
}
