package tunnel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
)

// ErrPeerExists is returned by AddPeer for a public key the device already has.
var ErrPeerExists = errors.New("peer already exists")

// ErrNoPeer is returned for a public key the device does not have.
var ErrNoPeer = errors.New("no such peer")

// ErrClosed is returned by peer changes on a closed device.
var ErrClosed = errors.New("device closed")

// Device is a running WireGuard interface. Its methods are safe for
// concurrent use.
type Device struct {
	cfg  Config
	pub  PublicKey // of cfg.PrivateKey, computed once: every session asks for it
	name string
	tun  tun.Device
	wg   *device.Device
	link *link
	log  *slog.Logger
	prb  *prober

	mu     sync.Mutex // serializes peer changes and Close
	closed bool
}

// Open creates the TUN interface, sets its MTU, addresses and routes, and
// starts the WireGuard device with cfg's key, port and Bind. ctx bounds the
// setup. On error nothing is left behind (the Bind is closed too).
func Open(ctx context.Context, cfg Config) (*Device, error) {
	cfg, err := cfg.validate()
	if err != nil {
		if cfg.Bind != nil {
			_ = cfg.Bind.Close()
		}
		return nil, err
	}
	log := cfg.Logger.With("interface", cfg.Name)
	td, err := createTUN(cfg.Name, cfg.MTU, !cfg.DisableOffloads)
	if err != nil {
		_ = cfg.Bind.Close()
		return nil, fmt.Errorf("creating TUN interface %s: %w", cfg.Name, err)
	}
	name, err := td.Name()
	if err != nil {
		_ = td.Close()
		_ = cfg.Bind.Close()
		return nil, fmt.Errorf("TUN interface %s: name: %w", cfg.Name, err)
	}
	d := &Device{cfg: cfg, pub: cfg.PrivateKey.PublicKey(), name: name, tun: td, log: log}
	pt, err := wrapTUN(td, d.pub)
	if err != nil {
		_ = td.Close()
		_ = cfg.Bind.Close()
		return nil, fmt.Errorf("TUN interface %s: %w", name, err)
	}
	d.prb = pt.prober
	d.wg = device.NewDevice(pt, cfg.Bind, wireguardLogger(log))
	if err := ctx.Err(); err != nil {
		d.wg.Close()
		return nil, fmt.Errorf("opening %s: %w", name, err)
	}
	d.link, err = configureLink(name, cfg.MTU, cfg.Addresses, cfg.Routes)
	if err != nil {
		d.wg.Close()
		return nil, fmt.Errorf("configuring %s: %w", name, err)
	}
	setup := fmt.Sprintf("private_key=%s\nlisten_port=%d\n", hexKey(cfg.PrivateKey), cfg.ListenPort)
	if err := d.wg.IpcSet(setup); err != nil {
		d.closeAll()
		return nil, fmt.Errorf("configuring WireGuard on %s: %w", name, err)
	}
	if err := d.wg.Up(); err != nil {
		d.closeAll()
		return nil, fmt.Errorf("starting WireGuard on %s: %w", name, err)
	}
	log.Info("tunnel device up", "mtu", cfg.MTU, "offloads", !cfg.DisableOffloads,
		"addresses", len(cfg.Addresses), "routes", len(cfg.Routes), "public_key", d.pub.String())
	return d, nil
}

// Name returns the interface name.
func (d *Device) Name() string { return d.name }

// PublicKey returns the device's public key.
func (d *Device) PublicKey() PublicKey { return d.pub }

// MTU returns the interface MTU the device was opened with.
func (d *Device) MTU() int { return d.cfg.MTU }

// Offloads reports whether the TUN device runs with the virtio-net header
// and its segmentation offloads.
func (d *Device) Offloads() bool { return !d.cfg.DisableOffloads }

// ListenPort returns the port the Bind listens on (the one it picked when
// Config.ListenPort was 0).
func (d *Device) ListenPort() (uint16, error) {
	get, err := d.wg.IpcGet()
	if err != nil {
		return 0, fmt.Errorf("reading %s state: %w", d.name, err)
	}
	return parseListenPort(get)
}

// AddPeer adds a peer; it fails with ErrPeerExists if the key is known.
func (d *Device) AddPeer(p PeerConfig) error {
	return d.configurePeer(p, peerMustBeNew)
}

// SetPeer makes the device's state for p.PublicKey equal to p: it creates
// the peer, or updates endpoint, allowed IPs, keepalive and preshared key of
// an existing one in place (its sessions and counters stay). Other peers are
// not touched.
func (d *Device) SetPeer(p PeerConfig) error {
	return d.configurePeer(p, peerMayExist)
}

// UpdatePeer is SetPeer for a peer that must exist already; it fails with
// ErrNoPeer otherwise.
func (d *Device) UpdatePeer(p PeerConfig) error {
	return d.configurePeer(p, peerMustExist)
}

// peerPresence is what a peer operation requires of the peer's presence.
type peerPresence int

const (
	peerMayExist  peerPresence = iota // SetPeer: create or update
	peerMustBeNew                     // AddPeer
	peerMustExist                     // UpdatePeer
)

// configurePeer is AddPeer, SetPeer and UpdatePeer: it checks p and the
// peer's presence under the device lock, then applies p over UAPI.
func (d *Device) configurePeer(p PeerConfig, need peerPresence) error {
	// Setting and updating happen on every PSK rotation of every peer:
	// Debug, where adding is Info.
	verb, done, level := "setting", "peer set", slog.LevelDebug
	switch need {
	case peerMustBeNew:
		verb, done, level = "adding", "peer added", slog.LevelInfo
	case peerMustExist:
		verb, done = "updating", "peer updated"
	}
	if err := p.validate(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(); err != nil {
		return err
	}
	exists := d.wg.LookupPeer(device.NoisePublicKey(p.PublicKey)) != nil
	switch {
	case need == peerMustBeNew && exists:
		return fmt.Errorf("%s peer %s: %w", verb, p.PublicKey, ErrPeerExists)
	case need == peerMustExist && !exists:
		return fmt.Errorf("%s peer %s: %w", verb, p.PublicKey, ErrNoPeer)
	}
	if err := d.wg.IpcSet(peerSetOperation(p, need == peerMustExist)); err != nil {
		return fmt.Errorf("%s peer %s: %w", verb, p.PublicKey, err)
	}
	d.log.Log(context.Background(), level, done, "peer", p.PublicKey.String(), "endpoint", p.Endpoint, "allowed_ips", p.AllowedIPs)
	return nil
}

// RemovePeer removes a peer and its sessions; it fails with ErrNoPeer if the
// device does not have it.
func (d *Device) RemovePeer(pub PublicKey) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(); err != nil {
		return err
	}
	if d.wg.LookupPeer(device.NoisePublicKey(pub)) == nil {
		return fmt.Errorf("removing peer %s: %w", pub, ErrNoPeer)
	}
	if err := d.wg.IpcSet(fmt.Sprintf("public_key=%s\nremove=true\n", hexKey(pub))); err != nil {
		return fmt.Errorf("removing peer %s: %w", pub, err)
	}
	d.prb.forget(pub)
	d.log.Info("peer removed", "peer", pub.String())
	return nil
}

// Peers returns the status of every peer, in no particular order.
func (d *Device) Peers() ([]PeerStatus, error) {
	get, err := d.wg.IpcGet()
	if err != nil {
		return nil, fmt.Errorf("reading %s state: %w", d.name, err)
	}
	return parsePeers(get)
}

// Peer returns the status of one peer, or ErrNoPeer.
func (d *Device) Peer(pub PublicKey) (PeerStatus, error) {
	peers, err := d.Peers()
	if err != nil {
		return PeerStatus{}, err
	}
	for _, p := range peers {
		if p.PublicKey == pub {
			return p, nil
		}
	}
	return PeerStatus{}, fmt.Errorf("peer %s: %w", pub, ErrNoPeer)
}

// SendProbe sends an in-tunnel probe (an echo request to the peer's probe
// address, see ProbeAddr) to the peer with key pub, stamped with the time
// now. The peer's device answers it; LastProbeReply reports the answer.
// Like any packet for the peer it starts a handshake when no session is
// up. It fails with ErrNoPeer for an unknown peer.
func (d *Device) SendProbe(pub PublicKey) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(); err != nil {
		return err
	}
	if d.wg.LookupPeer(device.NoisePublicKey(pub)) == nil {
		return fmt.Errorf("probing peer %s: %w", pub, ErrNoPeer)
	}
	d.prb.request(pub, time.Now())
	return nil
}

// LastProbeReply returns the newest answer of the peer with key pub to a
// probe; its zero value when none came since the peer was added.
func (d *Device) LastProbeReply(pub PublicKey) ProbeReply { return d.prb.reply(pub) }

// LastProbeRequest returns when the newest probe from the peer with key pub
// arrived (authenticated traffic from it: the probe address is among the
// peer's allowed IPs); the zero time when none came since the peer was
// added.
func (d *Device) LastProbeRequest(pub PublicKey) time.Time { return d.prb.lastRequest(pub) }

// Close removes the routes and addresses, stops the device, closes its
// Bind and deletes the interface. It is safe to call more than once.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	err := d.closeAll()
	d.log.Info("tunnel device closed")
	return err
}

// closeAll undoes the link configuration and closes the device (which
// closes the TUN and the Bind).
func (d *Device) closeAll() error {
	var err error
	if d.link != nil {
		err = d.link.unconfigure()
	}
	d.wg.Close()
	if err != nil {
		return fmt.Errorf("closing %s: %w", d.name, err)
	}
	return nil
}

func (d *Device) usable() error {
	if d.closed {
		return fmt.Errorf("device %s: %w", d.name, ErrClosed)
	}
	return nil
}

// Wait returns a channel closed when the device has stopped (after Close,
// or when the TUN interface went away).
func (d *Device) Wait() <-chan struct{} { return d.wg.Wait() }

// parseListenPort finds listen_port in the output of the "get" operation.
func parseListenPort(get string) (uint16, error) {
	for _, line := range strings.Split(get, "\n") {
		if v, ok := strings.CutPrefix(line, "listen_port="); ok {
			port, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				return 0, fmt.Errorf("device status: bad listen_port %q", v)
			}
			return uint16(port), nil
		}
	}
	return 0, errors.New("device status: no listen_port (the Bind is not open)")
}
