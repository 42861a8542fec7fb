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
	envPKIPassphrase = "INTRANSIT_PKI_PASSPHRASE"
	envPKIKey        = "INTRANSIT_PKI_KEY"
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

// resolve returns the secret. confirm asks twice at a prompt (for a new
// master key); what names the key in the prompt.
func (s secretSource) resolve(what string, confirm bool, useEnv bool) (keywrap.Secret, error) {
	if s.keyFile != "" && s.passphraseFile != "" {
		return keywrap.Secret{}, errors.New("give either a key file or a passphrase file, not both")
	}
	if s.keyFile != "" {
		b, err := os.ReadFile(s.keyFile)
		if err != nil {
			return keywrap.Secret{}, fmt.Errorf("read master key file: %w", err)
		}
		defer clear(b)
		sec, err := keywrap.ParseRawKey(b)
		if err != nil {
			return keywrap.Secret{}, fmt.Errorf("%s: %w", s.keyFile, err)
		}
		return sec, nil
	}
	if s.passphraseFile != "" {
		b, err := os.ReadFile(s.passphraseFile)
		if err != nil {
			return keywrap.Secret{}, fmt.Errorf("read passphrase file: %w", err)
		}
		defer clear(b)
		p := bytes.TrimRight(b, "\r\n")
		if len(p) == 0 {
			return keywrap.Secret{}, fmt.Errorf("%s: the passphrase is empty", s.passphraseFile)
		}
		return keywrap.Passphrase(p), nil
	}
	if useEnv {
		if v := s.env(envPKIKey); v != "" {
			sec, err := keywrap.ParseRawKey([]byte(v))
			if err != nil {
				return keywrap.Secret{}, fmt.Errorf("%s: %w", envPKIKey, err)
			}
			return sec, nil
		}
		if v := s.env(envPKIPassphrase); v != "" {
			return keywrap.Passphrase([]byte(v)), nil
		}
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
