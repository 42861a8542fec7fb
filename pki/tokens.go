package pki

import (
	"crypto"
	"errors"
	"fmt"
	"slices"

	"intransit/pki/keywrap"
	"intransit/pki/kms"
)

// tokenSet opens each PKCS#11 token once (tokens are told apart by their
// URI without the object) and remembers the keys made in them, so that a
// failed Init removes them again.
type tokenSet struct {
	open map[string]*kms.Token
	made []madeKey
}

type madeKey struct {
	tok   *kms.Token
	label string
}

func newTokenSet() *tokenSet { return &tokenSet{open: map[string]*kms.Token{}} }

// token returns the open token of uri (a PKCS#11 URI), the URI parsed, and
// the key label: its object, else def.
func (ts *tokenSet) token(uri, def string) (*kms.Token, kms.URI, error) {
	u, err := kms.ParseURI(uri)
	if err != nil {
		return nil, kms.URI{}, refusef("%v", err)
	}
	if u.Object == "" {
		u.Object = def
	}
	key := u.WithObject("").String()
	if t, ok := ts.open[key]; ok {
		return t, u, nil
	}
	t, err := kms.Open(u)
	if err != nil {
		return nil, kms.URI{}, err
	}
	ts.open[key] = t
	return t, u, nil
}

// generate makes a signing key of type kt in the token uri names.
func (ts *tokenSet) generate(uri, def string, kt KeyType) (crypto.Signer, kms.URI, error) {
	t, u, err := ts.token(uri, def)
	if err != nil {
		return nil, u, err
	}
	s, err := t.GenerateSigner(u.Object, string(kt))
	if errors.Is(err, kms.ErrExists) || errors.Is(err, kms.ErrUnsupported) {
		return nil, u, refusef("%v", err)
	}
	if err != nil {
		return nil, u, err
	}
	ts.made = append(ts.made, madeKey{t, u.Object})
	return s, u, nil
}

// generateSecret makes an AES master key in the token uri names.
func (ts *tokenSet) generateSecret(uri, def string) (keywrap.Sealer, kms.URI, error) {
	t, u, err := ts.token(uri, def)
	if err != nil {
		return nil, u, err
	}
	s, err := t.GenerateSecret(u.Object)
	if errors.Is(err, kms.ErrExists) {
		return nil, u, refusef("%v", err)
	}
	if err != nil {
		return nil, u, err
	}
	ts.made = append(ts.made, madeKey{t, u.Object})
	return s, u, nil
}

// undo deletes the keys made, newest first.
func (ts *tokenSet) undo() {
	for _, m := range slices.Backward(ts.made) {
		_ = m.tok.Delete(m.label)
	}
	ts.made = nil
}

// closeExcept closes every token but keep.
func (ts *tokenSet) closeExcept(keep *kms.Token) {
	for _, t := range ts.open {
		if t != keep {
			_ = t.Close()
		}
	}
}

// tokenSigner opens the token of uri and finds the key it names.
func tokenSigner(uri string) (crypto.Signer, *kms.Token, error) {
	ts := newTokenSet()
	t, u, err := ts.token(uri, "")
	if err != nil {
		return nil, nil, err
	}
	s, err := t.Signer(u.Object)
	if err != nil {
		_ = t.Close()
		return nil, nil, err
	}
	return s, t, nil
}

// unlockKeyring returns the keyring's master: from the token its header
// names when it is a token master (secret unused), else from secret.
func unlockKeyring(kr *keywrap.Keyring, secret keywrap.Secret) (*keywrap.Master, func(), error) {
	if kr.Master.Kind != keywrap.KindToken {
		m, err := kr.Unlock(secret)
		if err != nil {
			return nil, nil, err
		}
		return m, m.Wipe, nil
	}
	ts := newTokenSet()
	t, u, err := ts.token(kr.Master.Token, "")
	if err != nil {
		return nil, nil, fmt.Errorf("master key: %w", err)
	}
	s, err := t.Secret(u.Object)
	if err != nil {
		_ = t.Close()
		return nil, nil, fmt.Errorf("master key: %w", err)
	}
	m, err := keywrap.OpenTokenMaster(kr.Master, s)
	if err != nil {
		_ = t.Close()
		return nil, nil, err
	}
	return m, func() { _ = t.Close() }, nil
}
