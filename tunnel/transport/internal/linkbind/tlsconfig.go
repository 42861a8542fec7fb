package linkbind

import (
	"crypto/tls"
	"errors"

	"intransit/tunnel/transport"
)

// WithALPN returns a copy of c that requires TLS 1.3 and offers only
// transport.ALPN, also on the per-client configurations that a
// GetConfigForClient callback (as tlspolicy's server configurations have)
// returns.
func WithALPN(c *tls.Config) (*tls.Config, error) {
	if c.MaxVersion != 0 && c.MaxVersion < tls.VersionTLS13 {
		return nil, errors.New("TLS 1.3 is excluded by MaxVersion")
	}
	c = c.Clone()
	restrict(c)
	if get := c.GetConfigForClient; get != nil {
		c.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			cc, err := get(h)
			if err != nil || cc == nil {
				return cc, err
			}
			cc = cc.Clone()
			restrict(cc)
			return cc, nil
		}
	}
	return c, nil
}

func restrict(c *tls.Config) {
	c.MinVersion = tls.VersionTLS13
	c.NextProtos = []string{transport.ALPN}
}

// CheckALPN refuses a connection that did not negotiate transport.ALPN.
func CheckALPN(cs tls.ConnectionState) error {
	if cs.NegotiatedProtocol != transport.ALPN {
		return errors.New("peer did not negotiate ALPN " + transport.ALPN + " (got " + quote(cs.NegotiatedProtocol) + ")")
	}
	return nil
}

func quote(s string) string {
	if s == "" {
		return "none"
	}
	return `"` + s + `"`
}
