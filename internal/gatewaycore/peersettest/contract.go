package peersettest

import (
	"errors"
	"net/netip"
	"testing"

	"intransit/internal/gatewaycore"
	"intransit/tunnel"
)

// Set is what the contract suite drives: a gatewaycore.PeerSet that can
// be closed.
type Set interface {
	gatewaycore.PeerSet
	// Close closes the device.
	Close() error
}

// Run checks the gatewaycore.PeerSet contract on a fresh, empty set that
// newSet returns.
func Run(t *testing.T, newSet func(t *testing.T) Set) {
	key := func(t *testing.T) tunnel.PublicKey {
		k, err := tunnel.GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		return k.PublicKey()
	}
	allowed := []netip.Prefix{netip.MustParsePrefix("10.9.0.2/32")}
	t.Run("set, update, remove", func(t *testing.T) {
		s := newSet(t)
		a := key(t)
		if err := s.UpdatePeer(tunnel.PeerConfig{PublicKey: a}); !errors.Is(err, tunnel.ErrNoPeer) {
			t.Errorf("UpdatePeer of a missing peer: %v, want ErrNoPeer", err)
		}
		if err := s.SetPeer(tunnel.PeerConfig{PublicKey: a, AllowedIPs: allowed}); err != nil {
			t.Fatal(err)
		}
		psk, _ := tunnel.GeneratePresharedKey()
		if err := s.UpdatePeer(tunnel.PeerConfig{PublicKey: a, AllowedIPs: allowed, PresharedKey: &psk}); err != nil {
			t.Fatal(err)
		}
		st, err := s.Peer(a)
		if err != nil || st.PublicKey != a || !st.HasPresharedKey || len(st.AllowedIPs) != 1 || st.AllowedIPs[0] != allowed[0] {
			t.Errorf("Peer after update: %+v, %v", st, err)
		}
		if ps, err := s.Peers(); err != nil || len(ps) != 1 {
			t.Errorf("Peers: %d peers, %v; want 1", len(ps), err)
		}
		if err := s.RemovePeer(a); err != nil {
			t.Fatal(err)
		}
		if err := s.RemovePeer(a); !errors.Is(err, tunnel.ErrNoPeer) {
			t.Errorf("RemovePeer twice: %v, want ErrNoPeer", err)
		}
		if _, err := s.Peer(a); !errors.Is(err, tunnel.ErrNoPeer) {
			t.Errorf("Peer after removal: %v, want ErrNoPeer", err)
		}
	})
	t.Run("peers apart", func(t *testing.T) {
		s := newSet(t)
		a, b := key(t), key(t)
		for _, k := range []tunnel.PublicKey{a, b} {
			if err := s.SetPeer(tunnel.PeerConfig{PublicKey: k}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.RemovePeer(a); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Peer(b); err != nil {
			t.Errorf("removing a took b: %v", err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		s := newSet(t)
		a := key(t)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPeer(tunnel.PeerConfig{PublicKey: a}); !errors.Is(err, tunnel.ErrClosed) {
			t.Errorf("SetPeer on a closed set: %v, want ErrClosed", err)
		}
		if err := s.RemovePeer(a); !errors.Is(err, tunnel.ErrClosed) {
			t.Errorf("RemovePeer on a closed set: %v, want ErrClosed", err)
		}
	})
}
