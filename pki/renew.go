package pki

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"intransit/pki/store"
)

// ClockSkew is how far before its issuance a certificate's validity
// starts, so that a peer whose clock is a little behind accepts it.
const ClockSkew = time.Minute

// Renew issues the successor of a certificate this CA issued, for the key
// of csr: the same profile, name, identity (URI SAN), DNS names and IP
// addresses, and the same lifetime (its validity span less ClockSkew,
// within the profile's maximum). leaf is the certificate the holder proved
// it holds (the client certificate of an mTLS connection).
//
// It is refused (pki.IsRefusal) when the certificate does not chain to this
// CA's root through one of its intermediates, has expired, is unknown to
// the store, differs from the certificate recorded under its serial (a
// mismatched identity), is revoked, or is of the client or admin profile
// (those renew through point-to-site enrollment, which checks the client's
// enrollment record). The new certificate comes from the current
// intermediate, so that leaves move to it as they renew after a rotation.
func (ca *CA) Renew(ctx context.Context, leaf *x509.Certificate, csr *x509.CertificateRequest) (*Issued, error) {
	if leaf == nil {
		return nil, refusef("renewal: no certificate presented")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.root)
	inters := x509.NewCertPool()
	for _, c := range ca.Intermediates() {
		inters.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, refusef("renewal of %q: the certificate does not verify under this CA: %w", leaf.Subject.CommonName, err)
	}
	rec, err := ca.store.Certificate(ctx, leaf.SerialNumber)
	if errors.Is(err, store.ErrNotFound) {
		return nil, refusef("renewal: certificate %s was not issued by this CA (no record)", FormatSerial(leaf.SerialNumber))
	}
	if err != nil {
		return nil, fmt.Errorf("renewal: %w", err)
	}
	if !bytes.Equal(rec.DER, leaf.Raw) {
		return nil, refusef("renewal: certificate %s differs from the one recorded under its serial (mismatched identity)", FormatSerial(leaf.SerialNumber))
	}
	if rec.Status == store.StatusRevoked {
		return nil, refusef("renewal: certificate %s (%s) is revoked", FormatSerial(leaf.SerialNumber), rec.Name)
	}
	if rec.Profile != ProfileGateway && rec.Profile != ProfileServer {
		return nil, refusef("renewal: certificate %s is of profile %s; only gateway and server certificates renew here (clients renew through point-to-site enrollment)", FormatSerial(leaf.SerialNumber), rec.Profile)
	}
	want := ca.Identity(rec.Profile, rec.Name).String()
	if !slices.Contains(rec.URIs, want) {
		return nil, refusef("renewal: certificate %s carries identity %v, not %s (mismatched identity)", FormatSerial(leaf.SerialNumber), rec.URIs, want)
	}
	p, err := LookupProfile(rec.Profile)
	if err != nil {
		return nil, err
	}
	ttl := min(leaf.NotAfter.Sub(leaf.NotBefore)-ClockSkew, p.MaxTTL)
	if ttl <= 0 {
		ttl = p.DefaultTTL
	}
	req := Request{Profile: rec.Profile, Name: rec.Name, DNSNames: leaf.DNSNames, TTL: ttl}
	for _, ip := range leaf.IPAddresses {
		req.IPAddresses = append(req.IPAddresses, net.IP(slices.Clone(ip)))
	}
	is, err := ca.SignCSR(ctx, csr, req)
	if err != nil {
		return nil, err
	}
	ca.log.Info("certificate renewed", "name", rec.Name, "profile", rec.Profile, "old_serial", FormatSerial(leaf.SerialNumber),
		"serial", FormatSerial(is.Certificate.SerialNumber), "not_after", is.Certificate.NotAfter)
	return is, nil
}
