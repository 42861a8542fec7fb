package admin

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"

	"intransit/internal/status"
	"intransit/pki"
	"intransit/pki/store"
)

// ErrNoDaemon means no daemon holds the CA: the admin socket does not
// exist or nobody listens on it (a stale socket file).
var ErrNoDaemon = errors.New("no daemon holds this PKI")

// Listen creates the admin socket in the PKI directory dir: root-only
// (mode 0600, in a directory others cannot write), replacing a stale one.
func Listen(dir string) (net.Listener, error) {
	ln, err := status.Listen(filepath.Join(dir, SocketFile))
	if err != nil {
		return nil, fmt.Errorf("pki admin socket: %w", err)
	}
	return ln, nil
}

// Client is the CA behind a daemon's admin socket.
type Client struct {
	socket string
	hc     *http.Client
	tr     *http.Transport
}

// Dial connects to the admin socket in the PKI directory dir. It returns
// an error wrapping ErrNoDaemon when no daemon listens there, so that the
// caller opens the store itself; any other error (such as permission
// denied) means the daemon is there but cannot be used.
func Dial(ctx context.Context, dir string) (*Client, error) {
	path := filepath.Join(dir, SocketFile)
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w (%s: %v)", ErrNoDaemon, path, err)
		}
		return nil, fmt.Errorf("pki admin socket %s: %w", path, err)
	}
	c.Close()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	return &Client{socket: path, tr: tr, hc: &http.Client{Transport: tr}}, nil
}

// Socket returns the socket's path.
func (c *Client) Socket() string { return c.socket }

// Close releases idle connections.
func (c *Client) Close() error {
	c.tr.CloseIdleConnections()
	return nil
}

// call posts in to path and decodes the answer into out.
func (c *Client) call(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://intransitd"+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("pki admin socket %s: %w", c.socket, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return fmt.Errorf("pki admin socket %s: %w", c.socket, err)
	}
	if len(data) > maxAnswer {
		return fmt.Errorf("pki admin socket %s: answer larger than %d bytes", c.socket, maxAnswer)
	}
	if resp.StatusCode != http.StatusOK {
		var f failure
		if json.Unmarshal(data, &f) != nil || f.Error == "" {
			return fmt.Errorf("pki admin socket %s: HTTP %s", c.socket, resp.Status)
		}
		if f.Refusal {
			return &pki.Refusal{Rule: f.Error}
		}
		return fmt.Errorf("the daemon holding the PKI: %s", f.Error)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("pki admin socket %s: answer: %w", c.socket, err)
	}
	return nil
}

// withSerial sets a record's serial from its certificate (the serial does
// not travel in the record's JSON).
func withSerial(c *store.Certificate) (*x509.Certificate, error) {
	if c == nil {
		return nil, errors.New("pki admin socket: answer without a record")
	}
	cert, err := x509.ParseCertificate(c.DER)
	if err != nil {
		return nil, fmt.Errorf("pki admin socket: record %q: %w", c.Name, err)
	}
	c.Serial = cert.SerialNumber
	return cert, nil
}

func withSerials(recs []*store.Certificate) ([]*store.Certificate, error) {
	for _, r := range recs {
		if _, err := withSerial(r); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// Revoke implements CA.
func (c *Client) Revoke(ctx context.Context, ref string, reason store.Reason) (*Revoked, error) {
	var out Revoked
	if err := c.call(ctx, PathRevoke, revokeRequest{Ref: ref, Reason: reason}, &out); err != nil {
		return nil, err
	}
	if _, err := withSerial(out.Record); err != nil {
		return nil, err
	}
	return &out, nil
}

// CRL implements CA.
func (c *Client) CRL(ctx context.Context) (*CRL, error) {
	var out CRL
	if err := c.call(ctx, PathCRL, struct{}{}, &out); err != nil {
		return nil, err
	}
	if out.CRL == nil {
		return nil, errors.New("pki admin socket: answer without a CRL")
	}
	if len(out.Bundle) == 0 || !bytes.Equal(out.Bundle[0], out.CRL.DER) {
		return nil, errors.New("pki admin socket: answer without the CRL bundle, or one not starting with its CRL")
	}
	return &out, nil
}

// List implements CA.
func (c *Client) List(ctx context.Context, f store.Filter) ([]*store.Certificate, error) {
	var out records
	req := listRequest{Name: f.Name, Profile: f.Profile, Status: f.Status, NotAfterBefore: f.NotAfterBefore, Now: f.Now}
	if err := c.call(ctx, PathList, req, &out); err != nil {
		return nil, err
	}
	return withSerials(out.Records)
}

// Find implements CA.
func (c *Client) Find(ctx context.Context, ref string) ([]*store.Certificate, error) {
	var out records
	if err := c.call(ctx, PathFind, refRequest{Ref: ref}, &out); err != nil {
		return nil, err
	}
	return withSerials(out.Records)
}

// Sign implements CA.
func (c *Client) Sign(ctx context.Context, csr *x509.CertificateRequest, req pki.Request) (*Signed, error) {
	in := signRequest{CSR: csr.Raw, Profile: req.Profile, Name: req.Name, DNSNames: req.DNSNames, TTL: req.TTL}
	for _, ip := range req.IPAddresses {
		in.IPAddresses = append(in.IPAddresses, ip.String())
	}
	var out signAnswer
	if err := c.call(ctx, PathSign, in, &out); err != nil {
		return nil, err
	}
	cert, err := withSerial(out.Record)
	if err != nil {
		return nil, err
	}
	inter, err := x509.ParseCertificate(out.Intermediate)
	if err != nil {
		return nil, fmt.Errorf("pki admin socket: intermediate: %w", err)
	}
	return &Signed{Record: out.Record, Certificate: cert, Intermediate: inter}, nil
}
