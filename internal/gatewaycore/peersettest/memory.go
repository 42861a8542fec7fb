// Package peersettest is an in-memory gatewaycore.PeerSet and the
// contract suite every PeerSet passes.
package peersettest

import (
	"fmt"
	"slices"
	"sync"

	"intransit/tunnel"
)

// Memory is a PeerSet that keeps the peers' configurations in memory; it
// never sees traffic, so handshakes and byte counters stay zero.
type Memory struct {
	mu     sync.Mutex
	peers  map[tunnel.PublicKey]tunnel.PeerConfig
	closed bool
}

// NewMemory returns an empty set.
func NewMemory() *Memory { return &Memory{peers: map[tunnel.PublicKey]tunnel.PeerConfig{}} }

// SetPeer implements gatewaycore.PeerSet.
func (m *Memory) SetPeer(p tunnel.PeerConfig) error { return m.configure(p, false) }

// UpdatePeer implements gatewaycore.PeerSet.
func (m *Memory) UpdatePeer(p tunnel.PeerConfig) error { return m.configure(p, true) }

func (m *Memory) configure(p tunnel.PeerConfig, mustExist bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("setting peer %s: %w", p.PublicKey, tunnel.ErrClosed)
	}
	if _, ok := m.peers[p.PublicKey]; mustExist && !ok {
		return fmt.Errorf("updating peer %s: %w", p.PublicKey, tunnel.ErrNoPeer)
	}
	p.AllowedIPs = slices.Clone(p.AllowedIPs)
	if p.PresharedKey != nil {
		k := *p.PresharedKey
		p.PresharedKey = &k
	}
	m.peers[p.PublicKey] = p
	return nil
}

// RemovePeer implements gatewaycore.PeerSet.
func (m *Memory) RemovePeer(pub tunnel.PublicKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("removing peer %s: %w", pub, tunnel.ErrClosed)
	}
	if _, ok := m.peers[pub]; !ok {
		return fmt.Errorf("removing peer %s: %w", pub, tunnel.ErrNoPeer)
	}
	delete(m.peers, pub)
	return nil
}

// Peer implements gatewaycore.PeerSet.
func (m *Memory) Peer(pub tunnel.PublicKey) (tunnel.PeerStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return tunnel.PeerStatus{}, fmt.Errorf("peer %s: %w", pub, tunnel.ErrClosed)
	}
	p, ok := m.peers[pub]
	if !ok {
		return tunnel.PeerStatus{}, fmt.Errorf("peer %s: %w", pub, tunnel.ErrNoPeer)
	}
	return statusOf(p), nil
}

// Peers implements gatewaycore.PeerSet.
func (m *Memory) Peers() ([]tunnel.PeerStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("peers: %w", tunnel.ErrClosed)
	}
	out := make([]tunnel.PeerStatus, 0, len(m.peers))
	for _, p := range m.peers {
		out = append(out, statusOf(p))
	}
	return out, nil
}

// Config returns the configuration of a peer, for tests to inspect.
func (m *Memory) Config(pub tunnel.PublicKey) (tunnel.PeerConfig, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.peers[pub]
	return p, ok
}

// Close makes every later call fail with tunnel.ErrClosed.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

func statusOf(p tunnel.PeerConfig) tunnel.PeerStatus {
	return tunnel.PeerStatus{PublicKey: p.PublicKey, HasPresharedKey: p.PresharedKey != nil, Endpoint: p.Endpoint,
		AllowedIPs: slices.Clone(p.AllowedIPs), PersistentKeepalive: p.PersistentKeepalive}
}
