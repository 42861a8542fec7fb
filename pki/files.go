package pki

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"intransit/internal/atomicfile"
)

// IssuedFiles are the paths WriteIssued wrote.
type IssuedFiles struct {
	// Key is the private key (PKCS#8 PEM, mode 0600); empty for a CSR.
	Key string `json:"key,omitempty"`
	// Cert is the certificate (PEM).
	Cert string `json:"cert"`
	// Chain is the certificate followed by the intermediate (PEM), what a
	// TLS server presents.
	Chain string `json:"chain"`
}

// WriteIssued writes the certificate, its chain and, when the CA generated
// it, the private key into dir as <name>.crt, <name>-chain.pem and
// <name>.key. Each file is written atomically; the key is created 0600 and
// an existing key file is never overwritten.
func (ca *CA) WriteIssued(dir string, is *Issued) (IssuedFiles, error) {
	return WriteIssuedFiles(dir, is, ca.inter)
}

// WriteIssuedFiles is WriteIssued for a certificate that intermediate
// signed, where the CA itself is not at hand (it signed behind a daemon's
// admin socket).
func WriteIssuedFiles(dir string, is *Issued, intermediate *x509.Certificate) (IssuedFiles, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return IssuedFiles{}, fmt.Errorf("create output directory: %w", err)
	}
	name := is.Record.Name
	files := IssuedFiles{
		Cert:  filepath.Join(dir, name+".crt"),
		Chain: filepath.Join(dir, name+"-chain.pem"),
	}
	if is.Key != nil {
		files.Key = filepath.Join(dir, name+".key")
		der, err := x509.MarshalPKCS8PrivateKey(is.Key)
		if err != nil {
			return IssuedFiles{}, fmt.Errorf("encode private key: %w", err)
		}
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		clear(der)
		err = atomicfile.Create(files.Key, keyPEM, 0o600)
		clear(keyPEM)
		if errors.Is(err, os.ErrExist) {
			return IssuedFiles{}, &Refusal{Rule: fmt.Sprintf("%s exists; refusing to overwrite a private key", files.Key), Err: err}
		}
		if err != nil {
			return IssuedFiles{}, err
		}
	}
	leaf := pemCert(is.Certificate)
	if err := atomicfile.Write(files.Cert, leaf, 0o644); err != nil {
		return IssuedFiles{}, err
	}
	if err := atomicfile.Write(files.Chain, append(leaf, pemCert(intermediate)...), 0o644); err != nil {
		return IssuedFiles{}, err
	}
	return files, nil
}

// ParseCSR decodes a PEM or DER certificate signing request. It does not
// check the signature; SignCSR does.
func ParseCSR(data []byte) (*x509.CertificateRequest, error) {
	der := data
	if blk, _ := pem.Decode(data); blk != nil {
		if blk.Type != "CERTIFICATE REQUEST" && blk.Type != "NEW CERTIFICATE REQUEST" {
			return nil, fmt.Errorf("PEM block is %q, want CERTIFICATE REQUEST", blk.Type)
		}
		der = blk.Bytes
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("parse CSR: %w", err)
	}
	return csr, nil
}
