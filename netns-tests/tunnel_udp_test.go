package netnstests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"intransit/netns-tests/netlab"
	"intransit/netns-tests/testpeer"
)

const transferBytes = 50 << 20

// TestUDPTunnelCarriesIPv4AndIPv6 pings both ways over IPv4 and IPv6 inner
// addresses and moves 50 MiB each way over TCP, checked by SHA-256 at the
// receiving end.
func TestUDPTunnelCarriesIPv4AndIPv6(t *testing.T) {
	t.Parallel()
	p := newPair(t, pairOptions{})
	xfer := netlab.GoBuild(t, "intransit/netns-tests/xfer", true)
	mustPing(t, p.a, innerB4, 3)
	mustPing(t, p.b, innerA4, 3)
	mustPing(t, p.a, innerB6, 3)
	mustPing(t, p.b, innerA6, 3)
	transfer(t, xfer, p.a, p.b, innerB4, transferBytes)
	transfer(t, xfer, p.b, p.a, innerA6, transferBytes)

	st, ok := p.ea.Peer(p.eb.PublicKey)
	if !ok || st.LastHandshake.IsZero() || st.TxBytes < transferBytes || st.RxBytes < transferBytes {
		t.Errorf("peer b as seen by a after 2x50 MiB: %+v (found %v)", st, ok)
	}
	if info := p.ea.Info(); !info.Offloads || tunFlags(t, p.a, "wg0")&0x4000 == 0 {
		t.Errorf("offloads are not on by default: info %+v", info)
	}
}

// TestUDPTunnelHidesMarker sends a marker through the tunnel while
// capturing the underlay: the marker must not appear there, and the only
// traffic must be WireGuard on UDP 51820. A capture on the TUN interface
// proves the marker did cross.
func TestUDPTunnelHidesMarker(t *testing.T) {
	t.Parallel()
	p := newPair(t, pairOptions{})
	mustPing(t, p.a, innerB4, 1)      // handshake first
	const marker = "intransit-mark!!" // 16 bytes: ping -p repeats it
	under := p.link.B.Capture()
	inner := p.b.Iface("wg0").Capture()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pattern := fmt.Sprintf("%x", marker)
	for _, dst := range []string{innerB4, innerB6} {
		if out, err := p.a.Run(ctx, "ping", "-n", "-q", "-c", "3", "-i", "0.2", "-s", "200", "-p", pattern, dst); err != nil {
			t.Fatalf("ping with marker to %s: %v\n%s", dst, err, out)
		}
	}
	wire, tun := under.Stop(), inner.Stop()
	if !tun.Contains([]byte(marker)) {
		t.Fatalf("marker not seen on the TUN interface (%d packets): the search or the traffic is broken", len(tun.Packets))
	}
	if wire.Contains([]byte(marker)) {
		t.Errorf("marker visible on the underlay")
	}
	if n := wire.Count("udp", wgPort); n < 12 {
		t.Errorf("%d UDP %d packets on the underlay, want at least 12 (6 pings, 6 replies)", n, wgPort)
	}
	for _, f := range wire.Flows() {
		switch {
		case f.Proto == "udp" && f.Port == wgPort:
		case f.Proto == "icmpv6" && f.Port == 0: // neighbour discovery of the underlay
		default:
			t.Errorf("unexpected traffic on the underlay: %s (flows %v)", f, wire.Flows())
		}
	}
}

// TestUDPTunnelWithoutOffloads opens endpoint a with offloads off: its TUN
// device has no virtio-net header, and traffic still passes intact.
func TestUDPTunnelWithoutOffloads(t *testing.T) {
	t.Parallel()
	p := newPair(t, pairOptions{disableOffloads: true})
	xfer := netlab.GoBuild(t, "intransit/netns-tests/xfer", true)
	const iffVnetHdr = 0x4000
	if f := tunFlags(t, p.a, "wg0"); f&iffVnetHdr != 0 {
		t.Errorf("tun_flags %#x on a has IFF_VNET_HDR with offloads disabled", f)
	}
	if f := tunFlags(t, p.b, "wg0"); f&iffVnetHdr == 0 {
		t.Errorf("tun_flags %#x on b lacks IFF_VNET_HDR with offloads on", f)
	}
	if info := p.ea.Info(); info.Offloads {
		t.Errorf("endpoint a reports offloads on: %+v", info)
	}
	mustPing(t, p.a, innerB4, 3)
	mustPing(t, p.b, innerA6, 3)
	transfer(t, xfer, p.a, p.b, innerB4, 20<<20)
	transfer(t, xfer, p.b, p.a, innerA4, 20<<20)
}

// TestThirdPeerAddedAndRemovedWithoutDisturbingTraffic keeps a stream of
// pings from a to b while a third host c is added to a as a peer, used,
// updated and removed again: not one ping may be lost.
func TestThirdPeerAddedAndRemovedWithoutDisturbingTraffic(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t)
	bin := testpeer.Build(t)
	sw := lab.Switch("lan")
	a, b, c := lab.Host("a"), lab.Host("b"), lab.Host("c")
	sw.Attach(a).AddAddr("10.0.0.1/24")
	sw.Attach(b).AddAddr("10.0.0.2/24")
	sw.Attach(c).AddAddr("10.0.0.3/24")
	ka, kb, kc := testpeer.NewKey(t), testpeer.NewKey(t), testpeer.NewKey(t)
	peerA := testpeer.Peer{PublicKey: ka.PublicKey().String(), Endpoint: "10.0.0.1:51820", AllowedIPs: []string{"10.99.0.1/32"}}
	peerB := testpeer.Peer{PublicKey: kb.PublicKey().String(), Endpoint: "10.0.0.2:51820", AllowedIPs: []string{"10.99.0.2/32"}}
	peerC := testpeer.Peer{PublicKey: kc.PublicKey().String(), Endpoint: "10.0.0.3:51820", AllowedIPs: []string{"10.99.0.3/32"}}
	ea := testpeer.Start(t, a, bin, testpeer.Config{Interface: "wg0", PrivateKey: ka.Base64(), ListenPort: 51820,
		Addresses: []string{"10.99.0.1/24"}, Peers: []testpeer.Peer{peerB}})
	testpeer.Start(t, b, bin, testpeer.Config{Interface: "wg0", PrivateKey: kb.Base64(), ListenPort: 51820,
		Addresses: []string{"10.99.0.2/24"}, Peers: []testpeer.Peer{peerA}})
	testpeer.Start(t, c, bin, testpeer.Config{Interface: "wg0", PrivateKey: kc.Base64(), ListenPort: 51820,
		Addresses: []string{"10.99.0.3/24"}, Peers: []testpeer.Peer{peerA}})
	mustPing(t, a, "10.99.0.2", 1)
	before, _ := ea.Peer(kb.PublicKey())

	// 400 pings 10 ms apart: 4 s of steady traffic, bounded by -w.
	stream := a.Start("ping", "-n", "-q", "-c", "400", "-i", "0.01", "-W", "1", "-w", "30", "10.99.0.2")
	time.Sleep(500 * time.Millisecond)
	ea.SetPeer(peerC)
	mustPing(t, c, "10.99.0.1", 2)
	peerC.AllowedIPs = append(peerC.AllowedIPs, "10.99.3.0/24")
	peerC.PersistentKeepalive = 5
	ea.SetPeer(peerC)
	st, ok := ea.Peer(kc.PublicKey())
	if !ok || len(st.AllowedIPs) != 2 || st.LastHandshake.IsZero() {
		t.Errorf("updated peer c: %+v (found %v)", st, ok)
	}
	mustPing(t, c, "10.99.0.1", 1)
	ea.RemovePeer(kc.PublicKey())
	if _, ok := ea.Peer(kc.PublicKey()); ok {
		t.Errorf("peer c still present after removal")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	if err := stream.Wait(ctx); err != nil {
		t.Fatalf("ping stream to b: %v\n%s", err, stream.Output())
	}
	if sent, recv := pingCounts(stream.Output()); sent != 400 || recv != 400 {
		t.Errorf("ping stream to b while c came and went: %d sent, %d received:\n%s", sent, recv, stream.Output())
	}
	after, _ := ea.Peer(kb.PublicKey())
	if !after.LastHandshake.Equal(before.LastHandshake) || after.TxBytes <= before.TxBytes {
		t.Errorf("peer b disturbed: handshake %v -> %v, tx %d -> %d", before.LastHandshake, after.LastHandshake, before.TxBytes, after.TxBytes)
	}
	if out, err := c.Run(ctx, "ping", "-n", "-q", "-c", "2", "-W", "1", "10.99.0.1"); err == nil {
		t.Errorf("c still reaches a after its removal:\n%s", out)
	}
}

// stockWireGuard starts the reference wireguard-go (built from the module
// cache) in h on interface name and configures it with wg(8).
func stockWireGuard(t *testing.T, h *netlab.Host, bin, name string, priv string, addrs []string, peer testpeer.Peer) *netlab.Process {
	t.Helper()
	netlab.RequireTools(t, "wg")
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "private.key")
	if err := os.WriteFile(keyFile, []byte(priv+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	proc := h.Start("env", "WG_PROCESS_FOREGROUND=1", bin, name)
	sock := "/var/run/wireguard/" + name + ".sock"
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		select {
		case <-proc.Done():
			t.Fatalf("stock wireguard-go exited:\n%s", proc.Output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("stock wireguard-go: no UAPI socket after 20s:\n%s", proc.Output())
		}
	}
	args := []string{"set", name, "private-key", keyFile, "listen-port", strconv.Itoa(wgPort),
		"peer", peer.PublicKey, "allowed-ips", strings.Join(peer.AllowedIPs, ",")}
	if peer.Endpoint != "" {
		args = append(args, "endpoint", peer.Endpoint)
	}
	h.MustRun("wg", args...)
	for _, a := range addrs {
		h.Iface(name).AddAddr(a)
	}
	h.MustRun("ip", "link", "set", name, "mtu", "1420", "up")
	return proc
}

// TestUDPInteropWithStockWireGuardGo runs our endpoint against the stock
// wireguard-go binary configured by wg(8), once with each side initiating
// the handshake (the responder does not know the initiator's endpoint).
func TestUDPInteropWithStockWireGuardGo(t *testing.T) {
	t.Parallel()
	for _, oursInitiates := range []bool{true, false} {
		name := "stock-initiates"
		if oursInitiates {
			name = "ours-initiates"
		}
		t.Run(name, func(t *testing.T) {
			lab := netlab.New(t)
			bin := testpeer.Build(t)
			stock := netlab.GoBuild(t, "golang.zx2c4.com/wireguard", false)
			xfer := netlab.GoBuild(t, "intransit/netns-tests/xfer", true)
			a, b := lab.Host("ours"), lab.Host("stock")
			l := lab.Link(a, b)
			l.A.AddAddr(underA4 + "/24")
			l.B.AddAddr(underB4 + "/24")
			ka, kb := testpeer.NewKey(t), testpeer.NewKey(t)
			toStock := testpeer.Peer{PublicKey: kb.PublicKey().String(), AllowedIPs: []string{innerB4 + "/32", innerB6 + "/128"}}
			toOurs := testpeer.Peer{PublicKey: ka.PublicKey().String(), AllowedIPs: []string{innerA4 + "/32", innerA6 + "/128"}}
			if oursInitiates {
				toStock.Endpoint = fmt.Sprintf("%s:%d", underB4, wgPort)
			} else {
				toOurs.Endpoint = fmt.Sprintf("%s:%d", underA4, wgPort)
			}
			ours := testpeer.Start(t, a, bin, testpeer.Config{Interface: "wg0", PrivateKey: ka.Base64(), ListenPort: wgPort,
				Addresses: []string{innerA4 + "/24", innerA6 + "/64"}, Peers: []testpeer.Peer{toStock}})
			ifname := fmt.Sprintf("wgs%d", os.Getpid()%100000)
			stockWireGuard(t, b, stock, ifname, kb.Base64(), []string{innerB4 + "/24", innerB6 + "/64"}, toOurs)

			initiator, responderAddr := a, innerB4
			if !oursInitiates {
				initiator, responderAddr = b, innerA4
			}
			mustPing(t, initiator, responderAddr, 3)
			mustPing(t, a, innerB6, 3)
			mustPing(t, b, innerA6, 3)
			transfer(t, xfer, a, b, innerB4, 20<<20)
			transfer(t, xfer, b, a, innerA4, 20<<20)
			st, ok := ours.Peer(kb.PublicKey())
			if !ok || st.LastHandshake.IsZero() || st.Endpoint != fmt.Sprintf("%s:%d", underB4, wgPort) {
				t.Errorf("stock peer as seen by ours: %+v (found %v)", st, ok)
			}
			dump := b.MustRun("wg", "show", ifname, "latest-handshakes")
			if !strings.Contains(dump, ka.PublicKey().String()) || strings.Contains(dump, "\t0\n") {
				t.Errorf("wg show on the stock side: %q", dump)
			}
		})
	}
}

// TestUDPPeerRoams moves host b to a new underlay address while a keeps
// pinging it: a must learn b's new endpoint from b's packets (WireGuard
// roaming) without any configuration change.
func TestUDPPeerRoams(t *testing.T) {
	t.Parallel()
	p := newPair(t, pairOptions{})
	mustPing(t, p.a, innerB4, 2)
	const moved = "10.0.0.3"
	p.b.MustRun("ip", "addr", "del", underB4+"/24", "dev", p.link.B.Name())
	p.link.B.AddAddr(moved + "/24")
	// b speaks first from its new address: a ping from b carries it.
	mustPing(t, p.b, innerA4, 2)
	mustPing(t, p.a, innerB4, 2)
	st, ok := p.ea.Peer(p.eb.PublicKey)
	if want := fmt.Sprintf("%s:%d", moved, wgPort); !ok || st.Endpoint != want {
		t.Errorf("a's endpoint for b after the move: %q, want %q", st.Endpoint, want)
	}
}
