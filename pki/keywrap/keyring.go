package keywrap

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Keyring is the stored form of a master header and the keys it wraps, kept
// together in one file so that a master rotation replaces both at once.
type Keyring struct {
	// Master describes the master key.
	Master MasterHeader `json:"master"`
	// Keys are the wrapped keys, each with a distinct label.
	Keys []Wrapped `json:"keys"`
}

// ParseKeyring decodes a keyring, refusing unknown fields and versions.
func ParseKeyring(data []byte) (*Keyring, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var k Keyring
	if err := dec.Decode(&k); err != nil {
		return nil, fmt.Errorf("decode keyring: %w", err)
	}
	if k.Master.Version != FormatVersion {
		return nil, fmt.Errorf("keyring master version %d is not supported (want %d)", k.Master.Version, FormatVersion)
	}
	seen := map[string]bool{}
	for _, w := range k.Keys {
		if w.Version != FormatVersion {
			return nil, fmt.Errorf("keyring key %q: version %d is not supported (want %d)", w.Label, w.Version, FormatVersion)
		}
		if seen[w.Label] {
			return nil, fmt.Errorf("keyring holds two keys labelled %q", w.Label)
		}
		seen[w.Label] = true
	}
	return &k, nil
}

// Marshal encodes the keyring.
func (k *Keyring) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode keyring: %w", err)
	}
	return append(b, '\n'), nil
}

// Unlock derives the master key from secret and checks it against the header.
func (k *Keyring) Unlock(secret Secret) (*Master, error) {
	return OpenMaster(k.Master, secret)
}

// Key returns the wrapped key with the given label.
func (k *Keyring) Key(label string) (Wrapped, error) {
	for _, w := range k.Keys {
		if w.Label == label {
			return w, nil
		}
	}
	return Wrapped{}, fmt.Errorf("keyring holds no key labelled %q", label)
}

// Rotate returns a new keyring whose data keys are re-wrapped under a master
// derived from next (fresh salt), and that master. old must unlock k. The
// receiver is not modified; the wrapped private keys keep their ciphertext.
func (k *Keyring) Rotate(old *Master, next Secret, kdf KDFParams) (*Keyring, *Master, error) {
	if !old.matches(k.Master) {
		return nil, nil, fmt.Errorf("rotate: %w", ErrWrongSecret)
	}
	nm, nh, err := NewMaster(next, kdf)
	if err != nil {
		return nil, nil, err
	}
	out, err := k.RotateTo(old, nm, nh)
	if err != nil {
		nm.Wipe()
		return nil, nil, err
	}
	return out, nm, nil
}

// RotateTo returns a new keyring whose data keys are re-wrapped from old
// (which must unlock k) to next, described by nh: the way between a
// passphrase or key file and a token master (NewTokenMaster). The receiver
// is not modified; the wrapped private keys keep their ciphertext.
func (k *Keyring) RotateTo(old, next *Master, nh MasterHeader) (*Keyring, error) {
	if !old.matches(k.Master) {
		return nil, fmt.Errorf("rotate: %w", ErrWrongSecret)
	}
	out := &Keyring{Master: nh, Keys: make([]Wrapped, 0, len(k.Keys))}
	for _, w := range k.Keys {
		nw, err := old.Rewrap(w, next)
		if err != nil {
			return nil, fmt.Errorf("rotate: %w", err)
		}
		out.Keys = append(out.Keys, nw)
	}
	return out, nil
}
