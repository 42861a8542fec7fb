package s2s

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"intransit/internal/atomicfile"
	"intransit/tunnel"
)

// KeyFileName is the file in the state directory that holds the gateway's
// WireGuard private key.
const KeyFileName = "wireguard.key"

// LoadOrCreateKey returns the WireGuard private key kept in dir, creating
// it on first use: dir is created 0700, the key file 0600 with
// atomicfile.Create, so a crash never leaves a partial key. A key file readable by group or others
// is refused. Reusing the key lets a restarted gateway rejoin its tunnels.
func LoadOrCreateKey(dir string) (tunnel.PrivateKey, error) {
	path := filepath.Join(dir, KeyFileName)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		fi, err := os.Stat(path)
		if err != nil {
			return tunnel.PrivateKey{}, fmt.Errorf("WireGuard key: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return tunnel.PrivateKey{}, fmt.Errorf("WireGuard key %s has mode %s: it must not be readable by group or others (chmod 600)", path, fi.Mode().Perm())
		}
		k, err := tunnel.ParsePrivateKey(strings.TrimSpace(string(data)))
		if err != nil {
			return tunnel.PrivateKey{}, fmt.Errorf("WireGuard key %s: %w", path, err)
		}
		return k, nil
	case !errors.Is(err, os.ErrNotExist):
		return tunnel.PrivateKey{}, fmt.Errorf("WireGuard key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tunnel.PrivateKey{}, fmt.Errorf("state directory: %w", err)
	}
	k, err := tunnel.GeneratePrivateKey()
	if err != nil {
		return tunnel.PrivateKey{}, fmt.Errorf("WireGuard key: %w", err)
	}
	if err := atomicfile.Create(path, []byte(k.Base64()+"\n"), 0o600); err != nil {
		return tunnel.PrivateKey{}, fmt.Errorf("WireGuard key: %w", err)
	}
	return k, nil
}
