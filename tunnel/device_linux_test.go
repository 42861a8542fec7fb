package tunnel

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/conn"

	"intransit/netns-tests/netlab"
)

// TestDeviceInNamespace runs TestDeviceLifecycle in a fresh network
// namespace: a Device must be opened by a process that lives in the
// namespace it serves, so the test binary is started again inside one.
func TestDeviceInNamespace(t *testing.T) {
	lab := netlab.New(t)
	h := lab.Host("dev")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := h.Command(ctx, os.Args[0], "-test.run=^TestDeviceLifecycle$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "TUNNEL_DEVICE_NS="+h.Namespace())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestDeviceLifecycle/offloads") || !strings.Contains(string(out), "--- PASS: TestDeviceLifecycle/no-offloads") {
		t.Fatalf("device lifecycle in namespace %s: %v\n%s", h.Namespace(), err, out)
	}
}

// TestDeviceLifecycle opens devices with and without offloads, changes
// peers and closes them. It runs only inside the namespace made by
// TestDeviceInNamespace.
func TestDeviceLifecycle(t *testing.T) {
	if os.Getenv("TUNNEL_DEVICE_NS") == "" {
		t.Skip("runs inside the namespace of TestDeviceInNamespace only")
	}
	for _, offloads := range []bool{true, false} {
		name := "offloads"
		if !offloads {
			name = "no-offloads"
		}
		t.Run(name, func(t *testing.T) { deviceLifecycle(t, offloads) })
	}
}

func deviceLifecycle(t *testing.T, offloads bool) {
	priv, err := GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Name:            "wgtest0",
		MTU:             1400,
		Addresses:       []netip.Prefix{netip.MustParsePrefix("10.77.0.1/24"), netip.MustParsePrefix("fd77::1/64")},
		Routes:          []netip.Prefix{netip.MustParsePrefix("10.78.0.0/16"), netip.MustParsePrefix("fd78::/48")},
		PrivateKey:      priv,
		DisableOffloads: !offloads,
		Bind:            conn.NewStdNetBind(),
		Logger:          slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	d, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	link, err := netlink.LinkByName("wgtest0")
	if err != nil {
		t.Fatalf("interface not created: %v", err)
	}
	if link.Attrs().MTU != 1400 || link.Attrs().Flags&1 == 0 {
		t.Errorf("interface mtu %d flags %v, want 1400 and up", link.Attrs().MTU, link.Attrs().Flags)
	}
	flags, err := os.ReadFile("/sys/class/net/wgtest0/tun_flags")
	if err != nil {
		t.Fatal(err)
	}
	f, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(string(flags)), "0x"), 16, 32)
	if err != nil {
		t.Fatalf("tun_flags %q: %v", flags, err)
	}
	const iffVnetHdr = 0x4000
	if hasVnet := f&iffVnetHdr != 0; hasVnet != offloads || d.Offloads() != offloads {
		t.Errorf("tun_flags %#x (virtio-net header %v), Offloads() %v; want %v", f, hasVnet, d.Offloads(), offloads)
	}
	addrs, _ := netlink.AddrList(link, netlink.FAMILY_ALL)
	var got []string
	for _, a := range addrs {
		got = append(got, a.IPNet.String())
	}
	for _, want := range []string{"10.77.0.1/24", "fd77::1/64"} {
		if !strings.Contains(strings.Join(got, " "), want) {
			t.Errorf("address %s missing: %v", want, got)
		}
	}
	for _, r := range []string{"10.78.0.0/16", "fd78::/48"} {
		if !hasRoute(t, link, r) {
			t.Errorf("route %s missing", r)
		}
	}
	if port, err := d.ListenPort(); err != nil || port == 0 {
		t.Errorf("listen port %d, %v", port, err)
	}

	k1, _ := GeneratePrivateKey()
	k2, _ := GeneratePrivateKey()
	p1 := PeerConfig{PublicKey: k1.PublicKey(), Endpoint: "192.0.2.1:51820", AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.77.0.2/32")}}
	p2 := PeerConfig{PublicKey: k2.PublicKey(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.77.0.3/32")}}
	if err := d.AddPeer(p1); err != nil {
		t.Fatal(err)
	}
	if err := d.AddPeer(p1); !errors.Is(err, ErrPeerExists) {
		t.Errorf("second AddPeer: %v, want ErrPeerExists", err)
	}
	if err := d.UpdatePeer(p2); !errors.Is(err, ErrNoPeer) {
		t.Errorf("UpdatePeer of an unknown peer: %v, want ErrNoPeer", err)
	}
	if _, err := d.Peer(k2.PublicKey()); !errors.Is(err, ErrNoPeer) {
		t.Errorf("UpdatePeer created the peer: %v", err)
	}
	if err := d.SetPeer(p2); err != nil {
		t.Fatal(err)
	}
	psk, _ := GeneratePresharedKey()
	p1.PresharedKey = &psk
	p1.Endpoint = "[2001:db8::1]:4000"
	p1.PersistentKeepalive = 25 * time.Second
	p1.AllowedIPs = []netip.Prefix{netip.MustParsePrefix("10.77.0.2/32"), netip.MustParsePrefix("10.79.0.0/16")}
	if err := d.UpdatePeer(p1); err != nil {
		t.Fatal(err)
	}
	st, err := d.Peer(k1.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if !st.HasPresharedKey || st.Endpoint != "[2001:db8::1]:4000" || st.PersistentKeepalive != 25*time.Second ||
		len(st.AllowedIPs) != 2 || !st.LastHandshake.IsZero() {
		t.Errorf("updated peer: %+v", st)
	}
	if st2, err := d.Peer(k2.PublicKey()); err != nil || len(st2.AllowedIPs) != 1 || st2.AllowedIPs[0].String() != "10.77.0.3/32" {
		t.Errorf("other peer disturbed by the update: %+v, %v", st2, err)
	}
	if err := d.RemovePeer(k1.PublicKey()); err != nil {
		t.Fatal(err)
	}
	if err := d.RemovePeer(k1.PublicKey()); !errors.Is(err, ErrNoPeer) {
		t.Errorf("second RemovePeer: %v, want ErrNoPeer", err)
	}
	if peers, err := d.Peers(); err != nil || len(peers) != 1 || peers[0].PublicKey != k2.PublicKey() {
		t.Errorf("peers after removal: %+v, %v", peers, err)
	}

	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := d.AddPeer(p2); !errors.Is(err, ErrClosed) {
		t.Errorf("AddPeer after Close: %v, want ErrClosed", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := netlink.LinkByName("wgtest0"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("interface still present 5s after Close")
		}
		time.Sleep(20 * time.Millisecond)
	}
	routes, err := netlink.RouteList(nil, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if r.Dst != nil && (r.Dst.String() == "10.78.0.0/16" || r.Dst.String() == "fd78::/48") {
			t.Errorf("route left after Close: %v", r)
		}
	}
}

func hasRoute(t *testing.T, link netlink.Link, dst string) bool {
	t.Helper()
	routes, err := netlink.RouteList(link, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if r.Dst != nil && r.Dst.String() == dst {
			return true
		}
	}
	return false
}
