package tlspolicy

import (
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
)

// Identity lists the peer identities allowed in. A peer is allowed when any
// of its names matches any entry of any list: exact matches, except DNS
// names, which compare without regard to case.
// An Identity with every list empty allows any peer whose chain verifies.
type Identity struct {
	// URIs are allowed URI SANs, such as spiffe://example.org/web.
	URIs []string
	// DNSNames are allowed DNS SANs.
	DNSNames []string
	// CommonNames are allowed subject common names.
	CommonNames []string
	// OrgUnits are allowed subject organizational units.
	OrgUnits []string
}

// Empty reports whether no allow-list is set.
func (id Identity) Empty() bool {
	return len(id.URIs) == 0 && len(id.DNSNames) == 0 && len(id.CommonNames) == 0 && len(id.OrgUnits) == 0
}

// Check returns a refusal when the certificate matches no allow-list entry.
func (id Identity) Check(c *x509.Certificate) *Refusal {
	if id.Empty() {
		return nil
	}
	for _, u := range c.URIs {
		if slices.Contains(id.URIs, u.String()) {
			return nil
		}
	}
	for _, d := range c.DNSNames {
		if slices.ContainsFunc(id.DNSNames, func(a string) bool { return strings.EqualFold(a, d) }) {
			return nil
		}
	}
	if c.Subject.CommonName != "" && slices.Contains(id.CommonNames, c.Subject.CommonName) {
		return nil
	}
	for _, ou := range c.Subject.OrganizationalUnit {
		if slices.Contains(id.OrgUnits, ou) {
			return nil
		}
	}
	return refuse(ReasonIdentity, "peer %s is not on the allow-lists", describePeer(c))
}

func describePeer(c *x509.Certificate) string {
	uris := make([]string, len(c.URIs))
	for i, u := range c.URIs {
		uris[i] = u.String()
	}
	return fmt.Sprintf("CN=%q OU=%q DNS=%q URI=%q", c.Subject.CommonName, c.Subject.OrganizationalUnit, c.DNSNames, uris)
}
