package console

import (
	"context"
	"crypto/x509"
	"net"
	"net/http"
	"strings"
)

// ContentSecurityPolicy is sent with every answer: our own scripts,
// styles and images only, no inline script or style, no framing, forms
// posting only back here.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// maxBody bounds a request body (the forms are a few short fields).
const maxBody = 16 << 10

type operatorKey struct{}

// operator returns who makes the request, as the guard established it.
func operator(r *http.Request) string {
	s, _ := r.Context().Value(operatorKey{}).(string)
	return s
}

// guard sets the security headers, bounds the body and establishes the
// operator: with Options.Admin, the admin identity of the request's
// verified client certificate (anything else is refused); without, a local
// user on loopback, whose Host must name loopback so that a page of another
// site cannot reach the console through DNS rebinding.
func (c *Console) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		var op string
		if c.o.Admin != "" {
			h.Set("Strict-Transport-Security", "max-age=31536000")
			id, why := adminIdentity(r, c.o.Admin)
			if id == "" {
				c.warn("console: request refused", "reason", why, "remote", r.RemoteAddr, "path", r.URL.Path)
				http.Error(w, "refused: "+why, http.StatusForbidden)
				return
			}
			op = id
		} else {
			if !loopbackHost(r.Host) {
				c.warn("console: request refused", "reason", "host is not loopback", "host", r.Host, "remote", r.RemoteAddr)
				http.Error(w, "refused: the console answers only to a loopback host name", http.StatusForbidden)
				return
			}
			op = "local"
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), operatorKey{}, op)))
	})
}

// adminIdentity returns the admin identity of the request's client
// certificate, or "" and why not. The chain and its revocation were
// verified by the TLS layer (see Options.Admin); this checks the role.
func adminIdentity(r *http.Request, pkiName string) (string, string) {
	if r.TLS == nil {
		return "", "not over TLS"
	}
	if len(r.TLS.PeerCertificates) == 0 {
		return "", "no client certificate (an admin certificate of the gateway's PKI is required)"
	}
	return AdminIdentity(r.TLS.PeerCertificates[0], pkiName)
}

// AdminIdentity returns the certificate's identity when it is an admin of
// the PKI called pkiName (a URI SAN intransit://<pkiName>/admin/<name>),
// or "" and why not.
func AdminIdentity(cert *x509.Certificate, pkiName string) (string, string) {
	for _, u := range cert.URIs {
		if u.Scheme == "intransit" && u.Host == pkiName && strings.HasPrefix(u.Path, "/admin/") && len(u.Path) > len("/admin/") {
			return u.String(), ""
		}
	}
	ids := make([]string, 0, len(cert.URIs))
	for _, u := range cert.URIs {
		ids = append(ids, u.String())
	}
	return "", "the client certificate (" + strings.Join(ids, ", ") + ") is not an admin of PKI " + pkiName
}

// loopbackHost reports whether the Host header names a loopback address
// or localhost.
func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
