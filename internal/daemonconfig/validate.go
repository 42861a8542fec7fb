package daemonconfig

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"intransit/internal/logging"
	"intransit/pki"
	"intransit/tlspolicy"
	"intransit/tunnel"
	"intransit/tunnel/transport"
	"intransit/tunnel/transport/registry"
)

// validator checks a decoded Config, fills in defaults and resolves paths;
// it keeps every error.
type validator struct {
	file string
	root *yaml.Node
	errs Errors
	// badLines are the lines of values that did not decode: validation
	// findings there (a "required" for a value of the wrong type) would
	// only repeat them.
	badLines map[int]bool
	// meant are the fields an unknown key was probably meant as: their
	// findings (a "required") would only repeat the unknown key's.
	meant map[string]bool
}

// fail records an error at the line of the field named by path (mapping
// keys and sequence indexes), or line when it is not zero.
func (v *validator) fail(line int, path []any, format string, args ...any) {
	if line == 0 {
		line = v.line(path)
	}
	if v.badLines[line] || v.meant[fieldName(path)] {
		return
	}
	v.errs = append(v.errs, &Error{File: v.file, Line: line, Field: fieldName(path), Msg: fmt.Sprintf(format, args...)})
}

// result returns the errors in file order, nil when there is none.
func (v *validator) result() error {
	if len(v.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(v.errs, func(a, b *Error) int { return a.Line - b.Line })
	return v.errs
}

// line finds the line of the deepest node of path that exists.
func (v *validator) line(path []any) int {
	return lineOf(v.root, path)
}

// lineOf finds the line of the deepest node of path that exists in root.
func lineOf(root *yaml.Node, path []any) int {
	if root == nil {
		return 0
	}
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, el := range path {
		switch k := el.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return line
			}
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					line, n, found = n.Content[i].Line, n.Content[i+1], true
					break
				}
			}
			if !found {
				return line
			}
		case int:
			if n.Kind != yaml.SequenceNode || k >= len(n.Content) {
				return line
			}
			n = n.Content[k]
			line = n.Line
		}
	}
	return line
}

func fieldName(path []any) string {
	var b strings.Builder
	for _, el := range path {
		switch k := el.(type) {
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(k)
		case int:
			fmt.Fprintf(&b, "[%d]", k)
		}
	}
	return b.String()
}

var ifaceName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,15}$`)

func (v *validator) validate(c *Config) {
	switch c.LogFormat {
	case "":
		c.LogFormat = LogText
	case LogText, LogJSON:
	default:
		v.fail(0, []any{"log_format"}, "%q: want %s or %s", c.LogFormat, LogText, LogJSON)
	}
	if c.LogLevel == "" {
		c.LogLevel = logging.Info
	}
	if _, err := logging.ParseLevel(c.LogLevel); err != nil {
		v.fail(0, []any{"log_level"}, "%q: want %s, %s, %s or %s", c.LogLevel, logging.Debug, logging.Info, logging.Warn, logging.Error)
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	c.StateDir = resolve(c.Path, c.StateDir)
	if c.StatusSocket == "" {
		c.StatusSocket = DefaultStatusSocket
	}
	c.StatusSocket = resolve(c.Path, c.StatusSocket)
	if c.MetricsListen != "" {
		ap, err := netip.ParseAddrPort(c.MetricsListen)
		if err != nil {
			v.fail(0, []any{"metrics_listen"}, "invalid address and port %q: %v", c.MetricsListen, err)
		} else if c.MetricsPprof && !ap.Addr().IsLoopback() {
			v.fail(0, []any{"metrics_pprof"}, "profiles are served on loopback only; metrics_listen is %s", c.MetricsListen)
		}
	} else if c.MetricsPprof {
		v.fail(0, []any{"metrics_pprof"}, "needs metrics_listen")
	}
	switch {
	case c.PathMTU == 0:
		c.PathMTU = DefaultPathMTU
	case c.PathMTU > MaxPathMTU:
		v.fail(0, []any{"path_mtu"}, "%d is above %d", c.PathMTU, MaxPathMTU)
	default:
		if err := registry.CheckPathMTU(c.PathMTU); err != nil {
			v.fail(0, []any{"path_mtu"}, "%v", err)
		}
	}
	v.identity(c)
	v.iface(c)
	v.listen(c)
	if len(c.SitePrefixes) == 0 {
		v.fail(0, []any{"site_prefixes"}, "at least one local site prefix is required: remote gateways and laptops (p2s groups without routes) are routed to it")
	}
	v.prefixList([]any{"site_prefixes"}, c.SitePrefixes)
	v.durations(c)
	v.remotes(c)
	v.ipv6(c)
	v.p2s(c)
	v.pki(c)
	v.renew(c)
	v.console(c)
	v.store(c)
}

func (v *validator) identity(c *Config) {
	id := &c.Identity
	for _, f := range []struct {
		name string
		val  *string
	}{{"cert", &id.Cert}, {"key", &id.Key}, {"ca", &id.CA}} {
		if *f.val == "" {
			v.fail(0, []any{"identity", f.name}, "required")
		}
		*f.val = resolve(c.Path, *f.val)
	}
	if id.CRL == "" {
		v.fail(0, []any{"identity", "crl"}, "required (a file or an http(s):// URL): revoked peers must be refused")
	}
	if !id.CRLIsURL() {
		id.CRL = resolve(c.Path, id.CRL)
	} else if !validURI(id.CRL) {
		v.fail(0, []any{"identity", "crl"}, "invalid URL %q", id.CRL)
	}
	if id.CRLRefresh.Duration == 0 {
		id.CRLRefresh.Duration = DefaultCRLRefresh
	}
	if id.Profile == "" {
		id.Profile = tlspolicy.PQ
	}
	if _, err := tlspolicy.Builtin(id.Profile); err != nil {
		id.Profile = resolve(c.Path, id.Profile)
		if _, err := tlspolicy.LoadProfile(id.Profile); err != nil {
			v.fail(0, []any{"identity", "profile"}, "%v", err)
		}
	}
}

func (v *validator) iface(c *Config) {
	if c.Interface.Name == "" {
		c.Interface.Name = DefaultInterface
	}
	if !ifaceName.MatchString(c.Interface.Name) {
		v.fail(0, []any{"interface", "name"}, "%q: want 1 to 15 letters, digits, '.', '_' or '-'", c.Interface.Name)
	}
	if c.Interface.MTU != 0 && (c.Interface.MTU < tunnel.MinMTU || c.Interface.MTU > tunnel.MaxMTU) {
		v.fail(0, []any{"interface", "mtu"}, "%d is outside %d..%d", c.Interface.MTU, tunnel.MinMTU, tunnel.MaxMTU)
	}
}

func (v *validator) listen(c *Config) {
	l := &c.Listen
	if !c.SiteToSite() {
		return // a gateway for laptops only: no site-to-site listener
	}
	if !l.Control.IsValid() {
		l.Control = Endpoint{AddrPort: netip.AddrPortFrom(netip.IPv6Unspecified(), DefaultControlPort)}
	}
	ts := l.Transports()
	if len(ts) == 0 {
		msg := "serve at least one data-plane transport (%s)"
		if c.P2S != nil {
			msg += " for the remote gateways (a gateway for laptops only has no remotes and no listen)"
		}
		v.fail(0, []any{"listen"}, msg, strings.Join(registry.Names(), ", "))
		return
	}
	if c.Interface.MTU == 0 {
		mtu, err := registry.FallbackMTU(transportNames(ts), c.PathMTU)
		if err != nil {
			if registry.CheckPathMTU(c.PathMTU) == nil { // else path_mtu's error says it
				v.fail(0, []any{"interface", "mtu"}, "%v", err)
			}
			return
		}
		c.Interface.MTU = mtu
	}
}

// transportNames returns the names of ts.
func transportNames(ts []TransportListen) []string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	return names
}

// ipv6 refuses IPv6 prefixes on a site-to-site interface whose MTU is
// below IPv6's minimum (a small path_mtu): the kernel would not carry IPv6
// there, and the tunnel would drop it silently.
func (v *validator) ipv6(c *Config) {
	if !c.SiteToSite() {
		return
	}
	if registry.IPv6Error(c.Interface.MTU, c.PathMTU) == nil {
		return
	}
	why := func() error { return registry.IPv6Error(c.Interface.MTU, c.PathMTU) }
	for i, p := range c.SitePrefixes {
		if p.Addr().Is6() {
			v.fail(p.Line, []any{"site_prefixes", i}, "%s: %v", p.Prefix, why())
		}
	}
	for i, r := range c.Remotes {
		for k, p := range r.AllowedPrefixes {
			if p.Addr().Is6() {
				v.fail(p.Line, []any{"remotes", i, "allowed_prefixes", k}, "%s: %v", p.Prefix, why())
			}
		}
	}
}

func (v *validator) durations(c *Config) {
	if c.PSKRotation.Duration == 0 {
		c.PSKRotation.Duration = DefaultPSKRotation
	}
	if c.Keepalive.Duration == 0 {
		c.Keepalive.Duration = DefaultKeepalive
	}
	if c.DeadAfter.Duration == 0 {
		c.DeadAfter.Duration = DefaultDeadAfter
	}
	if c.DeadAfter.Duration <= c.Keepalive.Duration {
		v.fail(c.DeadAfter.Line, []any{"dead_after"}, "%s must exceed keepalive (%s)", c.DeadAfter.Duration, c.Keepalive.Duration)
	}
	if c.HandshakeTimeout.Duration == 0 {
		c.HandshakeTimeout.Duration = DefaultHandshakeTimeout
	}
	if c.HandshakeTimeout.Duration > MaxHandshakeTimeout {
		v.fail(c.HandshakeTimeout.Line, []any{"handshake_timeout"}, "%s is longer than %s: a stranger would hold a handshake slot that long", c.HandshakeTimeout.Duration, MaxHandshakeTimeout)
	}
}

// prefixList checks that no two prefixes of a list overlap.
func (v *validator) prefixList(path []any, ps []Prefix) {
	for i, p := range ps {
		for j := range i {
			if ps[j].Overlaps(p.Prefix) {
				v.fail(p.Line, append(slices.Clone(path), i), "%s overlaps %s (%s[%d])", p.Prefix, ps[j].Prefix, fieldName(path), j)
			}
		}
	}
}

func (v *validator) remotes(c *Config) {
	names := map[string]int{}
	ids := map[string]int{}
	for i := range c.Remotes {
		r := &c.Remotes[i]
		at := func(f ...any) []any { return append([]any{"remotes", i}, f...) }
		if err := pki.CheckName(r.Name); err != nil {
			v.fail(0, at("name"), "%v", err)
		}
		if j, dup := names[r.Name]; dup {
			v.fail(0, at("name"), "%q is also remotes[%d].name", r.Name, j)
		}
		names[r.Name] = i
		switch {
		case r.Identity == "":
			v.fail(0, at("identity"), "required: the URI or DNS SAN the remote's certificate must carry")
		case strings.Contains(r.Identity, "://") && !validURI(r.Identity):
			v.fail(0, at("identity"), "invalid URI %q", r.Identity)
		case !strings.Contains(r.Identity, "://") && !validDNSName(r.Identity):
			v.fail(0, at("identity"), "%q is neither a URI nor a DNS name", r.Identity)
		}
		if j, dup := ids[r.Identity]; dup {
			v.fail(0, at("identity"), "%q is also remotes[%d].identity", r.Identity, j)
		}
		ids[r.Identity] = i
		for k, ep := range r.Control {
			if ep.Addr().IsUnspecified() {
				v.fail(ep.Line, at("control", k), "%s: an unspecified address cannot be dialed", ep)
			}
		}
		if len(r.Transports) == 0 {
			r.Transports = transport.DefaultOrder()
		}
		seen := map[string]bool{}
		for k, t := range r.Transports {
			if _, err := registry.Lookup(t); err != nil {
				v.fail(0, at("transports", k), "%v", err)
			}
			if seen[t] {
				v.fail(0, at("transports", k), "%q is listed twice", t)
			}
			seen[t] = true
		}
		if len(r.AllowedPrefixes) == 0 {
			v.fail(0, at("allowed_prefixes"), "at least one prefix is required")
		}
		v.prefixList(at("allowed_prefixes"), r.AllowedPrefixes)
		for k, p := range r.AllowedPrefixes {
			for s, sp := range c.SitePrefixes {
				if sp.Overlaps(p.Prefix) {
					v.fail(p.Line, at("allowed_prefixes", k), "%s overlaps site_prefixes[%d] %s", p.Prefix, s, sp.Prefix)
				}
			}
			for j := range i {
				for m, op := range c.Remotes[j].AllowedPrefixes {
					if op.Overlaps(p.Prefix) {
						v.fail(p.Line, at("allowed_prefixes", k), "%s overlaps remotes[%d].allowed_prefixes[%d] %s (%s)", p.Prefix, j, m, op.Prefix, c.Remotes[j].Name)
					}
				}
			}
		}
	}
}

var dnsLabel = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)

func validDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if !dnsLabel.MatchString(l) {
			return false
		}
	}
	return true
}
