package netnstests

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"intransit/netns-tests/netlab"
	"intransit/netns-tests/testpeer"
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
	transport       string // testpeer transport (default udp)
	disableOffloads bool   // on endpoint a only
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
	ka, kb := testpeer.NewKey(t), testpeer.NewKey(t)
	ca := testpeer.Config{
		Interface: "wg0", PrivateKey: ka.Base64(), ListenPort: wgPort, Transport: o.transport,
		DisableOffloads: o.disableOffloads,
		Addresses:       []string{innerA4 + "/24", innerA6 + "/64"},
		Peers: []testpeer.Peer{{PublicKey: kb.PublicKey().String(), Endpoint: fmt.Sprintf("%s:%d", underB4, wgPort),
			AllowedIPs: []string{innerB4 + "/32", innerB6 + "/128"}}},
	}
	cb := testpeer.Config{
		Interface: "wg0", PrivateKey: kb.Base64(), ListenPort: wgPort, Transport: o.transport,
		Addresses: []string{innerB4 + "/24", innerB6 + "/64"},
		Peers: []testpeer.Peer{{PublicKey: ka.PublicKey().String(), Endpoint: fmt.Sprintf("%s:%d", underA4, wgPort),
			AllowedIPs: []string{innerA4 + "/32", innerA6 + "/128"}}},
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
