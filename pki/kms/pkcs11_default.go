//go:build !cgo

package kms

import (
	"crypto"
	"errors"

	"intransit/pki/keywrap"
)

// Token is a PKCS#11 token; this build has no PKCS#11 (it needs cgo).
type Token struct{}

var errNoCgo = errors.New("PKCS#11 tokens need a build with cgo (CGO_ENABLED=1)")

// Open always fails: PKCS#11 needs cgo.
func Open(URI) (*Token, error) { return nil, errNoCgo }

// URI returns the zero URI.
func (t *Token) URI() URI { return URI{} }

// GenerateSigner implements Keys.
func (t *Token) GenerateSigner(string, string) (crypto.Signer, error) { return nil, errNoCgo }

// Signer implements Keys.
func (t *Token) Signer(string) (crypto.Signer, error) { return nil, errNoCgo }

// GenerateSecret implements Keys.
func (t *Token) GenerateSecret(string) (keywrap.Sealer, error) { return nil, errNoCgo }

// Secret implements Keys.
func (t *Token) Secret(string) (keywrap.Sealer, error) { return nil, errNoCgo }

// Delete implements Keys.
func (t *Token) Delete(string) error { return errNoCgo }

// Close does nothing.
func (t *Token) Close() error { return nil }
