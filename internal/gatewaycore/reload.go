package gatewaycore

import (
	"reflect"

	"intransit/internal/daemonconfig"
)

// ConfigField is one setting of the daemon's configuration file and how a
// change of it is applied.
type ConfigField struct {
	// Name is the setting as written in the file ("identity.cert").
	Name string
	// Reload is true when a reload (SIGHUP) applies a change, false when
	// only a restart does; a reload that changes such a field changes
	// nothing and says which field needs the restart.
	Reload bool
	// Value reads the setting from a configuration.
	Value func(*daemonconfig.Config) any
}

// ConfigFields lists every setting of daemonconfig.Config, in file order.
// A reload applies the remotes (added, removed or restarted one by one)
// and the log level, and re-reads the certificate, CA and CRL files in
// place; everything else is fixed when the gateways open (listeners,
// interfaces, admission limits, timers) and needs a restart.
func ConfigFields() []ConfigField {
	f := func(name string, reload bool, v func(*daemonconfig.Config) any) ConfigField {
		return ConfigField{Name: name, Reload: reload, Value: v}
	}
	type c = daemonconfig.Config
	return []ConfigField{
		f("log_format", false, func(c *c) any { return c.LogFormat }),
		f("log_level", true, func(c *c) any { return c.LogLevel }),
		f("state_dir", false, func(c *c) any { return c.StateDir }),
		f("status_socket", false, func(c *c) any { return c.StatusSocket }),
		f("metrics_listen", false, func(c *c) any { return c.MetricsListen }),
		f("metrics_pprof", false, func(c *c) any { return c.MetricsPprof }),
		f("identity.cert", false, func(c *c) any { return c.Identity.Cert }),
		f("identity.key", false, func(c *c) any { return c.Identity.Key }),
		f("identity.ca", false, func(c *c) any { return c.Identity.CA }),
		f("identity.crl", false, func(c *c) any { return c.Identity.CRL }),
		f("identity.crl_refresh", false, func(c *c) any { return c.Identity.CRLRefresh.Duration }),
		f("identity.profile", false, func(c *c) any { return c.Identity.Profile }),
		f("identity.renew", false, func(c *c) any { return c.Identity.Renew }),
		f("interface", false, func(c *c) any { return c.Interface }),
		f("listen", false, func(c *c) any { return c.Listen.Transports() }),
		f("listen.control", false, func(c *c) any { return c.Listen.Control.AddrPort }),
		f("site_prefixes", false, func(c *c) any { return c.Prefixes() }),
		f("psk_rotation", false, func(c *c) any { return c.PSKRotation.Duration }),
		f("keepalive", false, func(c *c) any { return c.Keepalive.Duration }),
		f("dead_after", false, func(c *c) any { return c.DeadAfter.Duration }),
		f("handshake_timeout", false, func(c *c) any { return c.HandshakeTimeout.Duration }),
		f("path_mtu", false, func(c *c) any { return c.PathMTU }),
		f("remotes", true, func(c *c) any { return c.Remotes }),
		f("p2s", false, func(c *c) any { return c.P2S }),
		f("pki", false, func(c *c) any { return c.PKI }),
		f("console", false, func(c *c) any { return c.Console }),
		f("store", false, func(c *c) any { return c.Store }),
	}
}

// RestartOnly names the first setting that differs between a and b and
// that only a restart can apply; "" when a reload can apply every change.
func RestartOnly(a, b *daemonconfig.Config) string {
	for _, f := range ConfigFields() {
		if !f.Reload && !sameSetting(reflect.ValueOf(f.Value(a)), reflect.ValueOf(f.Value(b))) {
			return f.Name
		}
	}
	return ""
}

// sameSetting reports whether two values of a setting are the same, where
// it is written aside: the fields named Line (where a value is written in
// the file) are not compared, so that a line added above a section (a
// comment, another setting) does not change the section. Types from
// other packages (netip) compare as reflect.DeepEqual does; unexported
// fields (the parser's state) are not settings.
func sameSetting(a, b reflect.Value) bool {
	if a.IsValid() != b.IsValid() {
		return false
	}
	if !a.IsValid() {
		return true
	}
	if a.Type() != b.Type() {
		return false
	}
	if a.Kind() == reflect.Struct && a.Type().PkgPath() != reflect.TypeFor[daemonconfig.Config]().PkgPath() {
		return reflect.DeepEqual(a.Interface(), b.Interface())
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return sameSetting(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			f := a.Type().Field(i)
			if f.Name == "Line" || !f.IsExported() {
				continue
			}
			if !sameSetting(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !sameSetting(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		for _, k := range a.MapKeys() {
			if !sameSetting(a.MapIndex(k), b.MapIndex(k)) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}
