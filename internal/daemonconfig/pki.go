package daemonconfig

// The top-level pki section makes the daemon hold a CA: it unlocks the
// intermediate key once at start and keeps it for its life, signs client
// certificates for point-to-site enrollment and renewal, and serves
// `intransit pki` (revoke, crl, list, show, issue, sign) on the admin
// socket in the PKI directory; a revocation there is published to
// identity.crl at once (when that is a file holding this CA's CRL), and the
// CRL is re-signed and published again after half its validity. The PKI
// directory and identity.crl must be writable by the daemon: under the
// shipped unit (ProtectSystem=strict), put them in its state directory.
//
//	pki: {dir: /var/lib/intransitd/pki, passphrase_file: /etc/intransit/pki.pass}
//	identity: {crl: /var/lib/intransitd/crl.pem, ...}
//
// key_file or passphrase_file gives the master key that wraps the CA keys;
// neither is needed when the intermediate key (and those of unexpired
// previous intermediates) or the master key is in a PKCS#11 token.
//
// p2s.pki is the older place for the same thing; give the CA in one of the
// two.

// CA returns the CA this daemon holds: the pki section, else p2s.pki; nil
// when there is none.
func (c *Config) CA() *P2SPKI {
	if c.PKI != nil {
		return c.PKI
	}
	if c.P2S != nil && c.P2S.PKI.Dir != "" {
		return &c.P2S.PKI
	}
	return nil
}

func (v *validator) pki(c *Config) {
	p := c.PKI
	if p == nil {
		return
	}
	if p.Dir == "" {
		v.fail(0, []any{"pki", "dir"}, "required: the PKI directory")
	}
	if p.KeyFile != "" && p.PassphraseFile != "" {
		v.fail(0, []any{"pki"}, "give one of key_file and passphrase_file, not both (neither when every CA key or the master key is in a PKCS#11 token)")
	}
	if c.P2S != nil && c.P2S.PKI != (P2SPKI{}) {
		v.fail(0, []any{"p2s", "pki"}, "the CA is already given in the top-level pki section; remove p2s.pki")
	}
	p.Dir, p.KeyFile, p.PassphraseFile = resolve(c.Path, p.Dir), resolve(c.Path, p.KeyFile), resolve(c.Path, p.PassphraseFile)
}
