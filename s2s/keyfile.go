package s2s

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"intransit/tunnel"
)

// KeyFileName is the file in the state directory that holds the gateway's
// WireGuard private key.
const KeyFileName = "wireguard.key"

// LoadOrCreateKey returns the WireGuard private key kept in dir, creating
// it on first use: dir is created 0700, the key file 0600, written to a
// temporary file in the same directory, synced and renamed into place, so a
// crash never leaves a partial key. A key file readable by group or others
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
	if err := writeSecret(path, []byte(k.Base64()+"\n")); err != nil {
		return tunnel.PrivateKey{}, fmt.Errorf("WireGuard key: %w", err)
	}
	return k, nil
}

// writeSecret writes data to path atomically with mode 0600.
func writeSecret(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil {
		return err
	}
	ok = true
	os.Remove(tmp)
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
