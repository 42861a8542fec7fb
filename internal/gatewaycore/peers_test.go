package gatewaycore_test

import (
	"errors"
	"net/netip"
	"testing"

	"intransit/internal/gatewaycore"
	"intransit/internal/gatewaycore/peersettest"
	"intransit/tunnel"
)

func newKey(t *testing.T) tunnel.PublicKey {
	t.Helper()
	k, err := tunnel.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKey()
}

// TestPeersOneKeyOneSeat walks a key through install, a hijack attempt,
// a takeover by the same seat's next session, and teardown.
func TestPeersOneKeyOneSeat(t *testing.T) {
	mem := peersettest.NewMemory()
	p := gatewaycore.NewPeers(mem)
	key := newKey(t)
	alice := gatewaycore.NewOwner("client alice")
	victim := tunnel.PeerConfig{PublicKey: key, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.9.0.2/32")}}
	if err := p.Set(alice, victim); err != nil {
		t.Fatal(err)
	}
	// Another client presents alice's key: refused, alice's peer intact.
	mallory := gatewaycore.NewOwner("client mallory")
	var inUse *gatewaycore.KeyInUseError
	if err := p.Check(mallory, key); !errors.As(err, &inUse) || inUse.Holder != "client alice" || !errors.Is(err, gatewaycore.ErrKeyInUse) {
		t.Fatalf("Check by another seat: %v, want a KeyInUseError naming alice", err)
	}
	hijack := tunnel.PeerConfig{PublicKey: key, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.9.0.3/32")}}
	if err := p.Set(mallory, hijack); !errors.Is(err, gatewaycore.ErrKeyInUse) {
		t.Fatalf("Set by another seat: %v, want gatewaycore.ErrKeyInUse", err)
	}
	if err := p.Update(mallory, hijack); err == nil {
		t.Fatal("Update by another seat succeeded")
	}
	if err := p.Release(mallory, key); err != nil {
		t.Fatal(err)
	}
	if pc, ok := mem.Config(key); !ok || pc.AllowedIPs[0] != victim.AllowedIPs[0] {
		t.Fatalf("the victim's peer changed: %+v, %v", pc, ok)
	}
	// Alice's next session (the same seat) takes the key over; the old
	// session's teardown leaves the new peer alone.
	alice2 := gatewaycore.NewOwner("client alice")
	if err := p.Set(alice2, victim); err != nil {
		t.Fatalf("the same seat's next session: %v", err)
	}
	if err := p.Release(alice, key); err != nil {
		t.Fatal(err)
	}
	if _, ok := mem.Config(key); !ok || p.Holder(key) != "client alice" {
		t.Fatal("the superseded session's teardown removed its successor's peer")
	}
	if err := p.Update(alice2, victim); err != nil {
		t.Fatal(err)
	}
	// Teardown by the holder removes the peer and frees the key.
	if err := p.Release(alice2, key); err != nil {
		t.Fatal(err)
	}
	if _, ok := mem.Config(key); ok || p.Holder(key) != "" {
		t.Fatal("the holder's teardown left the peer")
	}
	if err := p.Set(mallory, hijack); err != nil {
		t.Fatalf("a free key: %v", err)
	}
	// Teardown after the device closed is no error.
	if err := mem.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Release(mallory, key); err != nil {
		t.Errorf("Release on a closed device: %v", err)
	}
}

func TestPeersByKey(t *testing.T) {
	p := gatewaycore.NewPeers(peersettest.NewMemory())
	a, b := newKey(t), newKey(t)
	for i, k := range []tunnel.PublicKey{a, b} {
		if err := p.Set(gatewaycore.NewOwner(string(rune('a'+i))), tunnel.PeerConfig{PublicKey: k, Endpoint: "192.0.2.1:51820"}); err != nil {
			t.Fatal(err)
		}
	}
	by, err := p.ByKey()
	if err != nil || len(by) != 2 || by[a].Endpoint != "192.0.2.1:51820" {
		t.Errorf("ByKey: %+v, %v", by, err)
	}
}

// TestPeersRenew replaces a held peer with a fresh one (the path monitor's
// renewal) and refuses to renew a key the owner does not hold.
func TestPeersRenew(t *testing.T) {
	mem := peersettest.NewMemory()
	p := gatewaycore.NewPeers(mem)
	key := newKey(t)
	site := gatewaycore.NewOwner("remote site-b")
	pc := tunnel.PeerConfig{PublicKey: key, Endpoint: "udp://192.0.2.1:51820"}
	if err := p.Renew(site, pc); err == nil {
		t.Fatal("Renew of a key nobody holds succeeded")
	}
	if err := p.Set(site, pc); err != nil {
		t.Fatal(err)
	}
	pc.Endpoint = "quic://192.0.2.1:443"
	if err := p.Renew(site, pc); err != nil {
		t.Fatal(err)
	}
	if got, ok := mem.Config(key); !ok || got.Endpoint != pc.Endpoint {
		t.Fatalf("after Renew: %+v, %v; want endpoint %s", got, ok, pc.Endpoint)
	}
	if err := p.Renew(gatewaycore.NewOwner("remote site-c"), pc); err == nil {
		t.Fatal("Renew by another seat succeeded")
	}
	if h := p.Holder(key); h != "remote site-b" {
		t.Fatalf("holder after Renew: %q", h)
	}
}
