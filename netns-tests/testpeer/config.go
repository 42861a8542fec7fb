package testpeer

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"go.yaml.in/yaml/v3"

	"intransit/internal/atomicfile"
	"intransit/tunnel"
	"intransit/tunnel/transport"
	"intransit/tunnel/transport/registry"
)

// Names of the transports the tests use most (Config.Transport takes any
// name of the registry).
const (
	TransportUDP  = transport.UDP
	TransportQUIC = transport.QUIC
	TransportTLS  = transport.TLS
)

// Config is the endpoint's configuration file (YAML).
type Config struct {
	// Interface is the TUN interface name.
	Interface string `yaml:"interface"`
	// PrivateKey is the base64 WireGuard private key.
	PrivateKey string `yaml:"private_key"`
	// ListenPort is the port to listen on (0: any).
	ListenPort uint16 `yaml:"listen_port"`
	// MTU of the interface (0: tunnel.DefaultMTU).
	MTU int `yaml:"mtu"`
	// DisableOffloads opens the TUN device without offloads.
	DisableOffloads bool `yaml:"disable_offloads"`
	// Addresses of the interface, with prefix length.
	Addresses []string `yaml:"addresses"`
	// Routes into the interface.
	Routes []string `yaml:"routes"`
	// Transport is the Bind to use: a name of the transport registry
	// ("udp" when empty).
	Transport string `yaml:"transport"`
	// PathMTU is the MTU of the path to the peers (0: the transports'
	// default); QUIC packets and TCP segments are sized to it.
	PathMTU int `yaml:"path_mtu,omitempty"`
	// TLS is the TLS material of the quic and tls transports.
	TLS *TLS `yaml:"tls,omitempty"`
	// Peers configured at start.
	Peers []Peer `yaml:"peers"`
}

// Peer is one peer, in the configuration file and in control requests.
type Peer struct {
	// PublicKey is the peer's base64 public key.
	PublicKey string `yaml:"public_key" json:"public_key"`
	// PresharedKey is an optional base64 preshared key.
	PresharedKey string `yaml:"preshared_key,omitempty" json:"preshared_key,omitempty"`
	// Endpoint in the Bind's syntax ("192.0.2.1:51820").
	Endpoint string `yaml:"endpoint,omitempty" json:"endpoint,omitempty"`
	// AllowedIPs of the peer.
	AllowedIPs []string `yaml:"allowed_ips" json:"allowed_ips"`
	// PersistentKeepalive in seconds (0: off).
	PersistentKeepalive int `yaml:"persistent_keepalive,omitempty" json:"persistent_keepalive,omitempty"`
}

// LoadConfig reads and checks a configuration file: unknown fields and bad
// values are errors naming the file, line or field.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if _, _, err := c.Tunnel(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &c, nil
}

// Write stores the configuration at path with mode 0600 (it holds a
// private key), with atomicfile.Write.
func (c *Config) Write(path string) error {
	data, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("encoding config: %w", err)
	}
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return fmt.Errorf("writing config: %w", err)
	}
	return nil
}

// Tunnel converts the file's values into a device configuration (without
// Bind or Logger) and the initial peers. Errors name the field.
func (c *Config) Tunnel() (tunnel.Config, []tunnel.PeerConfig, error) {
	var errs []error
	tc := tunnel.Config{
		Name:            c.Interface,
		MTU:             c.MTU,
		ListenPort:      c.ListenPort,
		DisableOffloads: c.DisableOffloads,
	}
	var err error
	if tc.PrivateKey, err = tunnel.ParsePrivateKey(c.PrivateKey); err != nil {
		errs = append(errs, fmt.Errorf("private_key: %w", err))
	}
	tc.Addresses, err = parsePrefixes("addresses", c.Addresses, false)
	errs = append(errs, err)
	tc.Routes, err = parsePrefixes("routes", c.Routes, true)
	errs = append(errs, err)
	if t, err := registry.Lookup(c.transport()); err != nil {
		errs = append(errs, fmt.Errorf("transport: %w", err))
	} else if t.TLS && c.TLS == nil {
		errs = append(errs, fmt.Errorf("transport %q: needs a tls section", c.Transport))
	}
	var peers []tunnel.PeerConfig
	for i, p := range c.Peers {
		pc, err := p.Tunnel()
		if err != nil {
			errs = append(errs, fmt.Errorf("peers[%d]: %w", i, err))
			continue
		}
		peers = append(peers, pc)
	}
	return tc, peers, errors.Join(errs...)
}

// Tunnel converts the peer into a tunnel.PeerConfig; errors name the field.
func (p Peer) Tunnel() (tunnel.PeerConfig, error) {
	var errs []error
	var pc tunnel.PeerConfig
	var err error
	if pc.PublicKey, err = tunnel.ParsePublicKey(p.PublicKey); err != nil {
		errs = append(errs, fmt.Errorf("public_key: %w", err))
	}
	if p.PresharedKey != "" {
		psk, err := tunnel.ParsePresharedKey(p.PresharedKey)
		if err != nil {
			errs = append(errs, fmt.Errorf("preshared_key: %w", err))
		}
		pc.PresharedKey = &psk
	}
	pc.Endpoint = p.Endpoint
	pc.AllowedIPs, err = parsePrefixes("allowed_ips", p.AllowedIPs, false)
	errs = append(errs, err)
	if p.PersistentKeepalive < 0 || p.PersistentKeepalive > 65535 {
		errs = append(errs, fmt.Errorf("persistent_keepalive %d: want 0 to 65535 seconds", p.PersistentKeepalive))
	}
	pc.PersistentKeepalive = time.Duration(p.PersistentKeepalive) * time.Second
	return pc, errors.Join(errs...)
}

func parsePrefixes(field string, in []string, masked bool) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for i, s := range in {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", field, i, err))
			continue
		}
		if masked {
			p = p.Masked()
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}
