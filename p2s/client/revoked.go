package client

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"intransit/internal/atomicfile"
	"intransit/tunnel/control"
)

// StateRevoked is the state of a client whose certificate the gateway
// revoked: its routes and DNS are restored and it does not reconnect.
const StateRevoked = "revoked"

// RevokedFile, in the profile directory, records that the gateway revoked
// the profile's certificate, so that the client stops for good (also when
// a service manager starts it again) and `p2s status` says so after it
// exited. A new certificate (enrolling again) makes the record void.
const RevokedFile = "revoked.json"

// Revocation is what the client learned when the gateway revoked its
// certificate.
type Revocation struct {
	// Serial is the revoked certificate's serial (hex).
	Serial string `json:"serial"`
	// At is when the gateway said so, and Detail what it said.
	At     time.Time `json:"at"`
	Detail string    `json:"detail"`
}

// RevokedError is the end of a client whose certificate was revoked.
type RevokedError struct {
	// Revocation says which certificate and when.
	Revocation Revocation
}

// Error says that the certificate was revoked and what to do.
func (e *RevokedError) Error() string {
	return fmt.Sprintf("the gateway revoked this client's certificate (serial %s) at %s: %s; enroll again with a new token",
		e.Revocation.Serial, e.Revocation.At.Format(time.RFC3339), e.Revocation.Detail)
}

// revokedBy reports whether a session that ended with err was cut because
// leaf, the certificate it used, was revoked: the gateway closed it with
// the reason revoked while leaf was still the client's current certificate
// and not expired (the gateway gives an expired certificate the same
// reason; a renewed client simply reconnects with its new certificate).
func revokedBy(err error, leaf, current *x509.Certificate, now time.Time) bool {
	var se *control.SessionError
	return errors.As(err, &se) && se.Remote && se.Reason == control.ReasonRevoked &&
		leaf.Equal(current) && now.Before(leaf.NotAfter)
}

// writeRevoked records r in the profile directory dir.
func writeRevoked(dir string, r Revocation) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, RevokedFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("record the revocation: %w", err)
	}
	return nil
}

// readRevoked returns the revocation recorded in dir for the certificate
// leaf; nil when none is recorded, or one for another certificate.
func readRevoked(dir string, leaf *x509.Certificate) (*Revocation, error) {
	b, err := os.ReadFile(filepath.Join(dir, RevokedFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the revocation record: %w", err)
	}
	var r Revocation
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, RevokedFile), err)
	}
	if r.Serial != leaf.SerialNumber.Text(16) {
		return nil, nil
	}
	return &r, nil
}

// RevokedStatus is the status of the profile in dir when its certificate
// was revoked (read from RevokedFile, for when no client runs); nil when
// it was not.
func RevokedStatus(dir string) (*Status, error) {
	p, err := LoadProfile(dir)
	if err != nil {
		return nil, err
	}
	m, err := LoadMaterial(dir)
	if err != nil {
		return nil, err
	}
	r, err := readRevoked(dir, m.Leaf)
	if err != nil || r == nil {
		return nil, err
	}
	return &Status{Profile: filepath.Base(dir), Name: p.Name, Group: p.Group, Gateway: p.Gateway, State: StateRevoked,
		Reason: "revoked", Detail: r.Detail, Since: r.At, CertExpiry: m.Leaf.NotAfter}, nil
}

// stopRevoked, after a session, records a revocation the gateway told of
// and returns it as a *RevokedError; nil when there was none.
func (c *Client) stopRevoked() error {
	c.mu.Lock()
	r := c.revoked
	c.mu.Unlock()
	if r == nil {
		return nil
	}
	if err := writeRevoked(c.opts.Dir, *r); err != nil {
		c.log.Error("the revocation could not be recorded; a restart will try again", "error", err.Error())
	}
	return &RevokedError{Revocation: *r}
}
