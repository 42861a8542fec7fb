package keywrap

import (
	"bytes"
	"errors"
	"fmt"

	"intransit/internal/secretfile"
)

// Environment variables a Source reads when it is given an environment.
const (
	// EnvKey holds a raw master key (32 bytes as hex or base64).
	EnvKey = "INTRANSIT_PKI_KEY"
	// EnvPassphrase holds a passphrase.
	EnvPassphrase = "INTRANSIT_PKI_PASSPHRASE"
)

// ErrNoSecret is returned (wrapped) by Source.Load when no source is set.
var ErrNoSecret = errors.New("no master key or passphrase given")

// Source says where a master secret comes from. It is the one loader of
// master secrets: the daemon's configuration (key_file, passphrase_file)
// and the CLI's flags and environment both go through it.
type Source struct {
	// KeyFile holds a raw master key: 32 raw bytes, 64 hex digits or base64
	// of 32 bytes (see ParseRawKey).
	KeyFile string
	// PassphraseFile holds a passphrase; a trailing newline is not part of
	// it.
	PassphraseFile string
	// Getenv, when set, is consulted when neither file is given: EnvKey
	// first, then EnvPassphrase. Nil reads no environment.
	Getenv func(string) string
}

// Load returns the secret of the first source set, in the order KeyFile,
// PassphraseFile, EnvKey, EnvPassphrase; both files at once is an error.
// An error wrapping ErrNoSecret means none is set (a caller may then ask
// at a prompt).
//
// A key or passphrase file must not be accessible to group or others (see
// package secretfile): anyone who reads it unlocks every key of the PKI.
// One that is refused with an error naming the file, its mode and the chmod
// that fixes it. An empty passphrase is
// refused. Errors name the file or the variable, never the secret.
func (s Source) Load() (Secret, error) {
	switch {
	case s.KeyFile != "" && s.PassphraseFile != "":
		return Secret{}, errors.New("give either a master key file or a passphrase file, not both")
	case s.KeyFile != "":
		b, err := secretfile.Read("master key file", s.KeyFile)
		if err != nil {
			return Secret{}, err
		}
		defer clear(b)
		sec, err := ParseRawKey(b)
		if err != nil {
			return Secret{}, fmt.Errorf("master key file %s: %w", s.KeyFile, err)
		}
		return sec, nil
	case s.PassphraseFile != "":
		b, err := secretfile.Read("passphrase file", s.PassphraseFile)
		if err != nil {
			return Secret{}, err
		}
		defer clear(b)
		p := bytes.TrimRight(b, "\r\n")
		if len(p) == 0 {
			return Secret{}, fmt.Errorf("passphrase file %s: the passphrase is empty", s.PassphraseFile)
		}
		return Passphrase(p), nil
	}
	if s.Getenv != nil {
		if v := s.Getenv(EnvKey); v != "" {
			sec, err := ParseRawKey([]byte(v))
			if err != nil {
				return Secret{}, fmt.Errorf("%s: %w", EnvKey, err)
			}
			return sec, nil
		}
		if v := s.Getenv(EnvPassphrase); v != "" {
			return Passphrase([]byte(v)), nil
		}
	}
	return Secret{}, ErrNoSecret
}
