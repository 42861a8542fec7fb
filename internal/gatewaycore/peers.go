package gatewaycore

import (
	"errors"
	"fmt"
	"sync"

	"intransit/tunnel"
)

// PeerSet is the WireGuard peers of a gateway's device; *tunnel.Device
// implements it, and peersettest.Memory does in memory for tests.
//
// Contract (checked by peersettest.Run):
//   - SetPeer creates the peer of p.PublicKey or replaces its whole
//     configuration; UpdatePeer does the same but fails with an error
//     wrapping tunnel.ErrNoPeer when the peer does not exist.
//   - RemovePeer removes a peer; removing one that does not exist fails
//     with an error wrapping tunnel.ErrNoPeer.
//   - Peer returns a peer's status (an error wrapping tunnel.ErrNoPeer
//     when it does not exist) and Peers all of them, in no fixed order.
//   - After the device is closed, SetPeer, UpdatePeer and RemovePeer fail
//     with an error wrapping tunnel.ErrClosed.
//   - Methods are safe for concurrent use and do not block on the
//     network.
type PeerSet interface {
	SetPeer(p tunnel.PeerConfig) error
	UpdatePeer(p tunnel.PeerConfig) error
	RemovePeer(pub tunnel.PublicKey) error
	Peer(pub tunnel.PublicKey) (tunnel.PeerStatus, error)
	Peers() ([]tunnel.PeerStatus, error)
}

// Owner holds WireGuard keys in a Peers: a remote gateway, a client's
// session or a static device. Owners are compared by identity; two owners
// of the same Name are successive holders of one seat (a remote replaced
// by a reload, a client's newer session) and may take a key over from each
// other, while owners of different names may not.
type Owner struct {
	// Name names the seat in errors and logs ("client alice",
	// "static phone", "remote site-b").
	Name string
}

// NewOwner returns a new owner named name.
func NewOwner(name string) *Owner { return &Owner{Name: name} }

// ErrKeyInUse is wrapped by the error of a key held by another seat.
var ErrKeyInUse = errors.New("WireGuard key in use")

// KeyInUseError says who holds a key already.
type KeyInUseError struct {
	// Key is the key asked for; Holder names the seat that holds it.
	Key    tunnel.PublicKey
	Holder string
}

func (e *KeyInUseError) Error() string {
	return fmt.Sprintf("WireGuard key %s is bound to %s", e.Key, e.Holder)
}

// Unwrap returns ErrKeyInUse.
func (e *KeyInUseError) Unwrap() error { return ErrKeyInUse }

// Peers is a PeerSet in which every key has one owner: a key held by one
// seat cannot be configured for another, and only the owner that holds a
// key removes its peer. It is safe for concurrent use.
type Peers struct {
	set PeerSet

	mu    sync.Mutex
	owner map[tunnel.PublicKey]*Owner
}

// NewPeers returns the owned view of set, which must hold no peer
// configured by anyone else.
func NewPeers(set PeerSet) *Peers {
	return &Peers{set: set, owner: map[tunnel.PublicKey]*Owner{}}
}

// Check returns a *KeyInUseError when key is held by a seat other than
// o's, nil otherwise.
func (p *Peers) Check(o *Owner, key tunnel.PublicKey) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.check(o, key)
}

func (p *Peers) check(o *Owner, key tunnel.PublicKey) error {
	if cur := p.owner[key]; cur != nil && cur != o && cur.Name != o.Name {
		return &KeyInUseError{Key: key, Holder: cur.Name}
	}
	return nil
}

// Set configures the peer of pc.PublicKey for o, which holds the key from
// now on; a key held by another seat is refused with a *KeyInUseError and
// its peer left as it is.
func (p *Peers) Set(o *Owner, pc tunnel.PeerConfig) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.check(o, pc.PublicKey); err != nil {
		return err
	}
	if err := p.set.SetPeer(pc); err != nil {
		return err
	}
	p.owner[pc.PublicKey] = o
	return nil
}

// Update changes the configuration of a peer o holds; it fails when o
// does not hold pc.PublicKey (any more).
func (p *Peers) Update(o *Owner, pc tunnel.PeerConfig) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.owner[pc.PublicKey] != o {
		return fmt.Errorf("WireGuard key %s: %s does not hold it", pc.PublicKey, o.Name)
	}
	return p.set.UpdatePeer(pc)
}

// Renew replaces a peer o holds with a new one of configuration pc:
// removed and added again, so that WireGuard starts its session afresh
// (a new handshake). It fails when o does not hold pc.PublicKey (any more).
func (p *Peers) Renew(o *Owner, pc tunnel.PeerConfig) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.owner[pc.PublicKey] != o {
		return fmt.Errorf("WireGuard key %s: %s does not hold it", pc.PublicKey, o.Name)
	}
	if err := p.set.RemovePeer(pc.PublicKey); err != nil && !errors.Is(err, tunnel.ErrNoPeer) {
		return err
	}
	return p.set.SetPeer(pc)
}

// Release removes the peer of key if o still holds it; a successor of the
// same seat that took the key over keeps its peer. A peer already gone, or
// a closed device, is no error.
func (p *Peers) Release(o *Owner, key tunnel.PublicKey) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.owner[key] != o {
		return nil
	}
	delete(p.owner, key)
	if err := p.set.RemovePeer(key); err != nil && !errors.Is(err, tunnel.ErrNoPeer) && !errors.Is(err, tunnel.ErrClosed) {
		return err
	}
	return nil
}

// Holder names the seat holding key, "" when none does.
func (p *Peers) Holder(key tunnel.PublicKey) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if o := p.owner[key]; o != nil {
		return o.Name
	}
	return ""
}

// Peer returns the status of a peer.
func (p *Peers) Peer(key tunnel.PublicKey) (tunnel.PeerStatus, error) { return p.set.Peer(key) }

// ByKey returns the status of every peer by key.
func (p *Peers) ByKey() (map[tunnel.PublicKey]tunnel.PeerStatus, error) {
	ps, err := p.set.Peers()
	by := make(map[tunnel.PublicKey]tunnel.PeerStatus, len(ps))
	for _, s := range ps {
		by[s.PublicKey] = s
	}
	return by, err
}
