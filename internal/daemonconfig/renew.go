package daemonconfig

import (
	"net/url"
)

// Certificate renewal. A gateway renews its own certificate at two thirds
// of its lifetime, keeping its identity, with a fresh key; the new one is
// used by every new control-channel handshake while running tunnels go
// on. It renews from the gateway that holds the CA, over mTLS with its
// current certificate:
//
//	identity: {renew: {url: https://192.0.2.1:8444, identity: intransit://corp/gateway/gw-a}, ...}
//
// or, on the gateway holding the CA, from that CA directly:
//
//	identity: {renew: {url: ca}, ...}
//
// The gateway holding the CA serves renewals when pki.renew names a
// listen address:
//
//	pki: {dir: ..., passphrase_file: ..., renew: 192.0.2.1:8444}

// RenewFromCA is the identity.renew.url that renews from the CA this
// daemon holds.
const RenewFromCA = "ca"

// Renewal is how the gateway renews its certificate (identity.renew).
type Renewal struct {
	// URL is the renewal API of the gateway holding the CA
	// (https://HOST:PORT), or RenewFromCA.
	URL string `yaml:"url"`
	// Identity, when set, is the URI identity the renewal server's
	// certificate must carry, which is then not checked against URL's
	// host (a gateway reached by address whose certificate names only its
	// DNS names). Without it the host must be in the certificate.
	Identity string `yaml:"identity"`
}

// FromCA reports whether the renewal is from the CA this daemon holds.
func (r *Renewal) FromCA() bool { return r != nil && r.URL == RenewFromCA }

func (v *validator) renew(c *Config) {
	r := c.Identity.Renew
	if r == nil {
		return
	}
	switch {
	case r.URL == "":
		v.fail(0, []any{"identity", "renew", "url"}, "required: https://HOST:PORT of the gateway holding the CA, or %q", RenewFromCA)
	case r.FromCA():
		if c.CA() == nil {
			v.fail(0, []any{"identity", "renew", "url"}, "%q needs the CA held by this daemon (the pki section)", RenewFromCA)
		}
		if r.Identity != "" {
			v.fail(0, []any{"identity", "renew", "identity"}, "not used when renewing from the CA this daemon holds")
		}
	default:
		u, err := url.Parse(r.URL)
		if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			v.fail(0, []any{"identity", "renew", "url"}, "%q: want https://HOST:PORT or %q", r.URL, RenewFromCA)
			return
		}
		if r.Identity != "" {
			if u, err := url.Parse(r.Identity); err != nil || u.Scheme == "" {
				v.fail(0, []any{"identity", "renew", "identity"}, "%q is not a URI identity (intransit://CA/gateway/NAME)", r.Identity)
			}
		}
	}
}
