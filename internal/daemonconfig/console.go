package daemonconfig

import (
	"net/url"
	"time"

	"intransit/tlspolicy"
)

// DefaultConsoleExpiryWarning is console.expiry_warning's default.
const DefaultConsoleExpiryWarning = 14 * 24 * time.Hour

// Console is the optional web console section.
//
//	console:
//	  listen: 127.0.0.1:9090          # loopback: plain HTTP for local users;
//	                                  # any other address: HTTPS, and only
//	                                  # admin certificates of our PKI get in
//	  tls_profile: modern             # TLS profile off loopback
//	  enroll_url: https://vpn.example.com:8445   # base of enrollment links
//	  expiry_warning: 336h            # certificates listed as close to expiry
type Console struct {
	// Listen is the console's address.
	Listen Endpoint `yaml:"listen"`
	// TLSProfile is the TLS profile of a console off loopback (built-in
	// name or file); modern by default, which browsers speak.
	TLSProfile string `yaml:"tls_profile"`
	// EnrollURL is the enrollment API as laptops reach it, the base of the
	// links that invitations carry; by default https:// and p2s.enroll.
	EnrollURL string `yaml:"enroll_url"`
	// ExpiryWarning is how close to expiry a certificate is listed.
	ExpiryWarning Duration `yaml:"expiry_warning"`
}

// Loopback reports whether the console listens on a loopback address
// (plain HTTP, no client certificate).
func (c *Console) Loopback() bool { return c.Listen.Addr().IsLoopback() }

// console validates the console section.
func (v *validator) console(c *Config) {
	cs := c.Console
	if cs == nil {
		return
	}
	at := func(f ...any) []any { return append([]any{"console"}, f...) }
	if !cs.Listen.IsValid() {
		v.fail(0, at("listen"), "required: an address and port such as 127.0.0.1:9090")
		return
	}
	if cs.TLSProfile == "" {
		cs.TLSProfile = tlspolicy.Modern
	}
	if _, err := tlspolicy.Builtin(cs.TLSProfile); err != nil {
		cs.TLSProfile = resolve(c.Path, cs.TLSProfile)
		if _, err := tlspolicy.LoadProfile(cs.TLSProfile); err != nil {
			v.fail(0, at("tls_profile"), "%v", err)
		}
	}
	if cs.EnrollURL != "" {
		u, err := url.Parse(cs.EnrollURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.Fragment != "" || u.RawQuery != "" {
			v.fail(0, at("enroll_url"), "%q: want an https:// URL such as https://vpn.example.com:8445", cs.EnrollURL)
		}
		if c.P2S == nil || !c.P2S.Enroll.IsValid() {
			v.fail(0, at("enroll_url"), "there is no enrollment API (p2s.enroll) to link to")
		}
	}
	if cs.ExpiryWarning.Duration == 0 {
		cs.ExpiryWarning.Duration = DefaultConsoleExpiryWarning
	}
}
