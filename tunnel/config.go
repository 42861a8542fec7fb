package tunnel

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"golang.zx2c4.com/wireguard/conn"
)

// Bounds of configuration values.
const (
	// MinMTU is the smallest inner MTU accepted: IPv4's minimum (RFC 791).
	// IPv6 needs MinIPv6MTU: a device below it is refused IPv6 addresses
	// and routes (the tunnel over a small path MTU carries only IPv4).
	MinMTU = 576
	// MinIPv6MTU is the smallest MTU of a device that carries IPv6.
	MinIPv6MTU = 1280
	// MaxMTU is the largest inner MTU accepted (wireguard-go's limit).
	MaxMTU = 65535 - 80
	// DefaultMTU is the inner MTU for WireGuard over UDP on a 1500-byte path.
	DefaultMTU = 1420
	// MaxKeepalive is the largest persistent keepalive interval WireGuard
	// can express (a 16-bit number of seconds).
	MaxKeepalive = 65535 * time.Second
)

// Config describes a device to Open.
type Config struct {
	// Name of the TUN interface ("wg0"); at most 15 bytes.
	Name string
	// MTU of the interface; 0 means DefaultMTU. Choose it for the transport
	// (see tunnel/transport's InnerMTU).
	MTU int
	// Addresses assigned to the interface, with their prefix length
	// ("10.10.0.1/24"). IPv6 addresses skip duplicate address detection.
	Addresses []netip.Prefix
	// Routes sent into the interface, beyond the on-link prefixes of
	// Addresses.
	Routes []netip.Prefix
	// PrivateKey is the device's static key. Required.
	PrivateKey PrivateKey
	// ListenPort is the port the Bind listens on; 0 picks a free one.
	ListenPort uint16
	// DisableOffloads opens the TUN device without the virtio-net header:
	// no segmentation or coalescing offloads, one packet per system call.
	DisableOffloads bool
	// Bind carries the WireGuard messages (a transport.Bind, or
	// conn.NewStdNetBind() for plain UDP). Required; the device closes it.
	Bind conn.Bind
	// Logger receives the device's logs; nil discards them.
	Logger *slog.Logger
}

// PeerConfig is the whole desired state of one peer.
type PeerConfig struct {
	// PublicKey identifies the peer. Required.
	PublicKey PublicKey
	// PresharedKey, when not nil, is mixed into every handshake with the peer.
	PresharedKey *PresharedKey
	// Endpoint is where to reach the peer, in the syntax of the device's
	// Bind ("192.0.2.1:51820", "quic://192.0.2.1:443"); empty for a peer
	// that only connects to us.
	Endpoint string
	// AllowedIPs are the inner prefixes routed to the peer and accepted
	// from it.
	AllowedIPs []netip.Prefix
	// PersistentKeepalive sends a keepalive this often (whole seconds, at
	// most MaxKeepalive); 0 turns it off.
	PersistentKeepalive time.Duration
}

// validate checks c and fills defaults into a copy.
func (c Config) validate() (Config, error) {
	var errs []error
	if c.Name == "" || len(c.Name) > 15 {
		errs = append(errs, fmt.Errorf("name %q: want 1 to 15 bytes", c.Name))
	}
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.MTU < MinMTU || c.MTU > MaxMTU {
		errs = append(errs, fmt.Errorf("mtu %d: want %d to %d", c.MTU, MinMTU, MaxMTU))
	}
	for i, a := range c.Addresses {
		if !a.IsValid() {
			errs = append(errs, fmt.Errorf("addresses[%d]: not a valid prefix", i))
		} else if a.Addr().Is6() && c.MTU < MinIPv6MTU {
			errs = append(errs, fmt.Errorf("addresses[%d] %s: IPv6 needs an MTU of %d, the device has %d (the path MTU is too small for IPv6 inside the tunnel)", i, a, MinIPv6MTU, c.MTU))
		}
	}
	for i, r := range c.Routes {
		if !r.IsValid() || r.Masked() != r {
			errs = append(errs, fmt.Errorf("routes[%d] %s: want a prefix with no host bits set", i, r))
		} else if r.Addr().Is6() && c.MTU < MinIPv6MTU {
			errs = append(errs, fmt.Errorf("routes[%d] %s: IPv6 needs an MTU of %d, the device has %d (the path MTU is too small for IPv6 inside the tunnel)", i, r, MinIPv6MTU, c.MTU))
		}
	}
	if c.PrivateKey.IsZero() {
		errs = append(errs, errors.New("private key: missing"))
	}
	if c.Bind == nil {
		errs = append(errs, errors.New("bind: missing"))
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("tunnel config: %w", err)
	}
	return c, nil
}

// validate checks a peer configuration.
func (p PeerConfig) validate() error {
	var errs []error
	if p.PublicKey.IsZero() {
		errs = append(errs, errors.New("public key: missing"))
	}
	for i, a := range p.AllowedIPs {
		if !a.IsValid() {
			errs = append(errs, fmt.Errorf("allowed_ips[%d]: not a valid prefix", i))
		}
	}
	if p.PersistentKeepalive < 0 || p.PersistentKeepalive > MaxKeepalive || p.PersistentKeepalive%time.Second != 0 {
		errs = append(errs, fmt.Errorf("persistent keepalive %v: want whole seconds from 0 to %v", p.PersistentKeepalive, MaxKeepalive))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("peer %s: %w", p.PublicKey, err)
	}
	return nil
}
