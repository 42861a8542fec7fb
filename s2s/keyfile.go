package s2s

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"intransit/internal/atomicfile"
	"intransit/internal/secretfile"
	"intransit/tunnel"
)

// KeyFileName is the file in the state directory that holds the gateway's
// WireGuard private key.
const KeyFileName = "wireguard.key"

// LoadOrCreateKey returns the WireGuard private key kept in dir, creating
// it on first use: dir is created 0700, the key file 0600 with
// atomicfile.Create, so a crash never leaves a partial key. A key file
// accessible by group or others is refused (secretfile.Read). Reusing the key lets a restarted gateway rejoin its tunnels.
func LoadOrCreateKey(dir string) (tunnel.PrivateKey, error) {
	path := filepath.Join(dir, KeyFileName)
	data, err := secretfile.Read("WireGuard key", path)
	switch {
	case err == nil:
		defer clear(data)
		k, err := tunnel.ParsePrivateKey(strings.TrimSpace(string(data)))
		if err != nil {
			return tunnel.PrivateKey{}, fmt.Errorf("WireGuard key %s: %w", path, err)
		}
		return k, nil
	case !errors.Is(err, os.ErrNotExist):
		return tunnel.PrivateKey{}, err
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
