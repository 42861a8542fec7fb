package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"intransit/pki/keywrap"
)

// Environment variables read by the pki commands.
const (
	envPKIDir        = "INTRANSIT_PKI_DIR"
	envPKIPassphrase = keywrap.EnvPassphrase
	envPKIKey        = keywrap.EnvKey
)

// secretSource says where a master key comes from. The first one set wins:
// --key-file, --passphrase-file, INTRANSIT_PKI_KEY, INTRANSIT_PKI_PASSPHRASE,
// then a prompt when standard input is a terminal.
type secretSource struct {
	keyFile        string
	passphraseFile string
	env            func(string) string
	stdin          *os.File
	stderr         io.Writer
}

// resolve returns the secret: from the files or (with useEnv) the
// environment through keywrap.Source, else from a prompt. confirm asks
// twice at a prompt (for a new master key); what names the key in the
// prompt.
func (s secretSource) resolve(what string, confirm bool, useEnv bool) (keywrap.Secret, error) {
	src := keywrap.Source{KeyFile: s.keyFile, PassphraseFile: s.passphraseFile}
	if useEnv {
		src.Getenv = s.env
	}
	sec, err := src.Load()
	if !errors.Is(err, keywrap.ErrNoSecret) {
		return sec, err
	}
	if s.stdin == nil || !term.IsTerminal(int(s.stdin.Fd())) {
		return keywrap.Secret{}, fmt.Errorf("no %s given: use --passphrase-file, --key-file, %s or %s (or run on a terminal to be asked)", what, envPKIPassphrase, envPKIKey)
	}
	p, err := s.prompt(fmt.Sprintf("Passphrase for the %s: ", what))
	if err != nil {
		return keywrap.Secret{}, err
	}
	defer clear(p)
	if len(p) == 0 {
		return keywrap.Secret{}, errors.New("the passphrase is empty")
	}
	if confirm {
		again, err := s.prompt("Repeat it: ")
		if err != nil {
			return keywrap.Secret{}, err
		}
		defer clear(again)
		if !bytes.Equal(p, again) {
			return keywrap.Secret{}, errors.New("the passphrases differ")
		}
	}
	return keywrap.Passphrase(p), nil
}

func (s secretSource) prompt(text string) ([]byte, error) {
	fmt.Fprint(s.stderr, text)
	p, err := term.ReadPassword(int(s.stdin.Fd()))
	fmt.Fprintln(s.stderr)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	return p, nil
}
