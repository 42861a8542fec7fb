package testpeer

import (
	cryptotls "crypto/tls"
	"errors"
	"fmt"
	"log/slog"

	"golang.zx2c4.com/wireguard/conn"

	"intransit/tlspolicy"
	"intransit/tunnel/transport"
	"intransit/tunnel/transport/registry"
)

// TLS holds the TLS material of the quic and tls transports: PEM file
// paths, the tlspolicy profile, and the name the gateway's certificate
// must carry when this endpoint dials.
type TLS struct {
	// Profile is a built-in tlspolicy profile name or a profile file
	// ("modern" if empty).
	Profile string `yaml:"profile,omitempty"`
	// CertFile and KeyFile are this endpoint's certificate chain and key.
	// With them the endpoint accepts connections.
	CertFile string `yaml:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file,omitempty"`
	// CAFile holds the CAs the other side's certificate must chain to.
	// With it the endpoint dials, and when it also accepts connections it
	// requires client certificates from them (mTLS).
	CAFile string `yaml:"ca_file,omitempty"`
	// ServerName is what a dialed gateway's certificate must name.
	ServerName string `yaml:"server_name,omitempty"`
}

// NewBind returns the Bind for the configured transport and its name. It is
// the one place where the endpoint chooses how WireGuard messages travel.
func (c *Config) NewBind(log *slog.Logger) (conn.Bind, string, error) {
	t, err := registry.Lookup(c.transport())
	if err != nil {
		return nil, "", err
	}
	opts := transport.Options{PathMTU: c.PathMTU, Logger: log}
	if t.TLS {
		if opts.ServerTLS, opts.ClientTLS, err = c.TLS.configs(log); err != nil {
			return nil, "", err
		}
	}
	b, err := t.New(opts)
	if err != nil {
		return nil, "", err
	}
	return b, t.Name, nil
}

// transport returns the configured transport's name, udp when empty.
func (c *Config) transport() string {
	if c.Transport == "" {
		return transport.UDP
	}
	return c.Transport
}

// configs builds the server configuration (when a certificate is given)
// and the client configuration (when CAs are given) through tlspolicy.
func (t *TLS) configs(log *slog.Logger) (server, client *cryptotls.Config, err error) {
	if t == nil {
		return nil, nil, errors.New("tls: section missing (the quic and tls transports need certificates)")
	}
	name := t.Profile
	if name == "" {
		name = tlspolicy.Modern
	}
	prof, err := tlspolicy.LoadProfile(name)
	if err != nil {
		return nil, nil, fmt.Errorf("tls.profile: %w", err)
	}
	opts := tlspolicy.Options{Profile: prof, ServerName: t.ServerName, Logger: log}
	if t.CertFile != "" || t.KeyFile != "" {
		kp, err := tlspolicy.LoadKeyPairFiles(t.CertFile, t.KeyFile, prof, log)
		if err != nil {
			return nil, nil, fmt.Errorf("tls.cert_file/key_file: %w", err)
		}
		opts.Certificate = kp
	}
	if t.CAFile != "" {
		cas, err := tlspolicy.LoadCAFile(t.CAFile, log)
		if err != nil {
			return nil, nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		opts.CAs = cas
	}
	if opts.Certificate != nil {
		if server, err = tlspolicy.ServerConfig(opts); err != nil {
			return nil, nil, fmt.Errorf("tls: %w", err)
		}
	}
	if opts.CAs != nil {
		if client, err = tlspolicy.ClientConfig(opts); err != nil {
			return nil, nil, fmt.Errorf("tls: %w", err)
		}
	}
	if server == nil && client == nil {
		return nil, nil, errors.New("tls: neither cert_file/key_file (to accept) nor ca_file (to dial)")
	}
	return server, client, nil
}
