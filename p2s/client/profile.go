package client

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"

	"go.yaml.in/yaml/v3"

	"intransit/internal/atomicfile"
	"intransit/internal/secretfile"
	"intransit/p2s/enroll"
	"intransit/pki"
	"intransit/pki/renewal"
	"intransit/tlspolicy"
	"intransit/tunnel"
	"intransit/tunnel/transport"
)

// Files of a profile directory.
const (
	ProfileFile   = "profile.yaml"
	KeyFile       = "client.key"
	ChainFile     = "client.pem"
	CAFile        = "ca.pem"
	WireGuardFile = "wireguard.key"
)

// DefaultProfile is the profile name when none is given.
const DefaultProfile = "default"

// Profile is what a laptop knows about one gateway it enrolled with.
type Profile struct {
	// Name and Group are the client's name and group at the gateway.
	Name  string `yaml:"name"`
	Group string `yaml:"group"`
	// Identity is the client's certificate identity.
	Identity string `yaml:"identity"`
	// Gateway is the gateway's host (name or address), as enrolled at; the
	// gateway's certificate must carry it.
	Gateway string `yaml:"gateway"`
	// Gateways are the hosts of the other gateways that serve this client
	// with the same ports and records (they share one store), as told at
	// enrollment; the client moves to the next when the one it uses is
	// gone (see the package documentation). Absent in a profile from a
	// gateway alone.
	Gateways []string `yaml:"gateways,omitempty"`
	// ControlPort and RenewPort are the control-channel and renewal ports.
	ControlPort uint16 `yaml:"control_port"`
	RenewPort   uint16 `yaml:"renew_port"`
	// Transports orders the data-plane transports to try.
	Transports []string `yaml:"transports"`
	// TLSProfile is the TLS profile of the control channel and enrollment.
	TLSProfile string `yaml:"tls_profile"`
	// Lockdown keeps every packet but the tunnel's own from leaving while
	// the client runs (for a full tunnel; see Options.Lockdown).
	Lockdown bool `yaml:"lockdown,omitempty"`
}

// ProfileDir is the directory of profile name under base.
func ProfileDir(base, name string) (string, error) {
	if err := pki.CheckName(name); err != nil {
		return "", fmt.Errorf("profile name %w", err)
	}
	return filepath.Join(base, name), nil
}

// LoadProfile reads the profile in dir (strict YAML; errors name the file
// and line).
func LoadProfile(dir string) (*Profile, error) {
	path := filepath.Join(dir, ProfileFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("profile: %w (enroll first: intransit p2s enroll)", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var p Profile
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch {
	case p.Gateway == "":
		return nil, fmt.Errorf("%s: gateway: required", path)
	case p.ControlPort == 0:
		return nil, fmt.Errorf("%s: control_port: required", path)
	case len(p.Transports) == 0:
		return nil, fmt.Errorf("%s: transports: at least one is required", path)
	}
	for i, g := range p.Gateways {
		if g == "" || g == p.Gateway || slices.Contains(p.Gateways[:i], g) {
			return nil, fmt.Errorf("%s: gateways[%d]: %q is empty or listed twice", path, i, g)
		}
	}
	for i, t := range p.Transports {
		if !slices.Contains(transport.DefaultOrder(), t) {
			return nil, fmt.Errorf("%s: transports[%d]: unknown transport %q (want %v)", path, i, t, transport.DefaultOrder())
		}
	}
	if _, err := tlspolicy.LoadProfile(p.TLSProfile); err != nil {
		return nil, fmt.Errorf("%s: tls_profile: %w", path, err)
	}
	return &p, nil
}

// Material is a profile's key material.
type Material struct {
	// Cert is the client certificate with its key and chain.
	Cert tls.Certificate
	// Leaf is the parsed client certificate.
	Leaf *x509.Certificate
	// CAs are the pinned CA certificates.
	CAs []*x509.Certificate
	// WireGuard is the WireGuard private key.
	WireGuard tunnel.PrivateKey
}

// LoadMaterial reads the key material of the profile in dir; a private key
// accessible by group or others is refused (secretfile.Read).
func LoadMaterial(dir string) (*Material, error) {
	if err := renewal.FinishInstall(filepath.Join(dir, ChainFile), filepath.Join(dir, KeyFile)); err != nil {
		return nil, err
	}
	keyPEM, err := secretfile.Read("profile key", filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, err
	}
	defer clear(keyPEM)
	wg, err := secretfile.Read("profile WireGuard key", filepath.Join(dir, WireGuardFile))
	if err != nil {
		return nil, err
	}
	defer clear(wg)
	chainPEM, err := os.ReadFile(filepath.Join(dir, ChainFile))
	if err != nil {
		return nil, fmt.Errorf("profile certificate: %w", err)
	}
	cert, err := tls.X509KeyPair(chainPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("profile certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("profile certificate: %w", err)
	}
	cert.Leaf = leaf
	bundle, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, fmt.Errorf("profile CA: %w", err)
	}
	cas, err := enroll.ParseCAs(bundle)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, CAFile), err)
	}
	wk, err := tunnel.ParsePrivateKey(string(bytes.TrimSpace(wg)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, WireGuardFile), err)
	}
	return &Material{Cert: cert, Leaf: leaf, CAs: cas, WireGuard: wk}, nil
}

// Enroll redeems token at the gateway URL and writes a new profile into
// dir: the client key (generated here, 0600), the certificate chain, the
// pinned CA bundle, a WireGuard key (0600) and profile.yaml. An existing
// profile is refused; on error nothing is left behind.
func Enroll(ctx context.Context, dir, gatewayURL, token string) (*Profile, error) {
	if _, err := os.Stat(filepath.Join(dir, ProfileFile)); err == nil {
		return nil, fmt.Errorf("profile %s exists already; remove it or choose another --profile", dir)
	}
	u, err := url.Parse(gatewayURL)
	if err != nil || u.Hostname() == "" {
		return nil, fmt.Errorf("gateway URL %q: want https://HOST[:PORT]", gatewayURL)
	}
	prof, err := tlspolicy.Builtin(tlspolicy.PQ)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("client key: %w", err)
	}
	csr, err := enroll.NewCSR(key, "client")
	if err != nil {
		return nil, err
	}
	got, err := enroll.Enroll(ctx, gatewayURL, token, csr, prof)
	if err != nil {
		return nil, err
	}
	wg, err := tunnel.GeneratePrivateKey()
	if err != nil {
		return nil, fmt.Errorf("WireGuard key: %w", err)
	}
	p := &Profile{Name: got.Name, Group: got.Group, Identity: got.Identity, Gateway: u.Hostname(),
		ControlPort: got.ControlPort, RenewPort: got.RenewPort, Transports: transport.DefaultOrder(), TLSProfile: tlspolicy.PQ}
	for _, g := range got.Gateways {
		if g != "" && g != p.Gateway && !slices.Contains(p.Gateways, g) {
			p.Gateways = append(p.Gateways, g)
		}
	}
	if err := writeProfile(dir, p, key, []byte(got.Chain), []byte(got.CA), wg); err != nil {
		return nil, err
	}
	return p, nil
}

// writeProfile writes every file of a new profile, removing the directory
// again on failure.
func writeProfile(dir string, p *Profile, key crypto.Signer, chain, ca []byte, wg tunnel.PrivateKey) (err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("profile directory: %w", err)
	}
	defer func() {
		if err != nil {
			for _, f := range []string{ProfileFile, KeyFile, ChainFile, CAFile, WireGuardFile} {
				os.Remove(filepath.Join(dir, f))
			}
			os.Remove(dir)
		}
	}()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("client key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	defer clear(keyPEM)
	defer clear(der)
	y, err := yaml.Marshal(p)
	if err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{KeyFile, keyPEM, 0o600},
		{WireGuardFile, []byte(wg.Base64() + "\n"), 0o600},
		{ChainFile, chain, 0o644},
		{CAFile, ca, 0o644},
		{ProfileFile, y, 0o644},
	}
	for _, f := range files {
		if err := atomicfile.Write(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return fmt.Errorf("profile %s: %w", f.name, err)
		}
	}
	return nil
}
