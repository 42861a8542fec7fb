// Package secretfile reads files that hold secrets (master keys,
// passphrases, WireGuard and client private keys) and refuses one that
// group or others may access, as ssh refuses a private key file that is
// too open: whoever can read it holds the secret, and whoever can write it
// can substitute their own.
package secretfile

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrTooOpen is wrapped by the error of Read for a file whose mode grants
// anything to group or others.
var ErrTooOpen = errors.New("accessible by group or others")

// MaxSize bounds what Read returns: secrets are small.
const MaxSize = 64 << 10

// Read returns the content of the secret file path; what names it in
// errors ("passphrase file", "WireGuard key"). The mode is checked on the
// open file, so a file swapped for another after the check is never read:
// any of the bits 0o077 set is refused with an error that wraps ErrTooOpen
// and names the file, its mode and the chmod that fixes it. A missing file
// gives an error matching os.ErrNotExist; a file above MaxSize is refused.
// The caller should clear the returned bytes when done.
func Read(what, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s %s has mode %04o: %w; it must be accessible by its owner only (chmod 600 %s)", what, path, uint32(perm), ErrTooOpen, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		clear(b)
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	if len(b) > MaxSize {
		clear(b)
		return nil, fmt.Errorf("%s %s is larger than %d bytes", what, path, MaxSize)
	}
	return b, nil
}
