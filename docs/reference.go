package docs

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"intransit/internal/daemonconfig"
	"intransit/internal/gatewaycore"
	"intransit/tunnel/transport/registry"
)

// Field is one setting of intransitd's configuration file.
type Field struct {
	// Name is the setting's dotted path ("identity.cert"); the fields of a
	// list's items are written "remotes[].name".
	Name string
	// Type says what the value is, in the reference's words.
	Type string
	// Reload is true when a reload (SIGHUP) applies a change of the
	// setting, false when it needs a restart.
	Reload bool
}

// Fields lists every setting of daemonconfig.Config, in the order of the
// types, with the reload behaviour gatewaycore.ConfigFields gives it (a
// setting inside a section has its section's).
func Fields() []Field {
	var out []Field
	walk(reflect.TypeOf(daemonconfig.Config{}), "", &out)
	reload := map[string]bool{}
	for _, f := range gatewaycore.ConfigFields() {
		reload[f.Name] = f.Reload
	}
	for i := range out {
		out[i].Reload = reloadOf(out[i].Name, reload)
	}
	return out
}

// reloadOf finds the reload behaviour of the longest ConfigFields name
// that is name or contains it.
func reloadOf(name string, reload map[string]bool) bool {
	for n := name; n != ""; {
		if r, ok := reload[n]; ok {
			return r
		}
		i := strings.LastIndexAny(n, ".[")
		if i < 0 {
			break
		}
		n = n[:i]
	}
	panic(fmt.Sprintf("docs: gatewaycore.ConfigFields has no entry covering %s", name))
}

var (
	endpointType = reflect.TypeOf(daemonconfig.Endpoint{})
	prefixType   = reflect.TypeOf(daemonconfig.Prefix{})
	addrType     = reflect.TypeOf(daemonconfig.Addr{})
	durationType = reflect.TypeOf(daemonconfig.Duration{})
	listenType   = reflect.TypeOf(daemonconfig.Listen{})
)

// walk appends the settings of struct type t under prefix.
func walk(t reflect.Type, prefix string, out *[]Field) {
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, opts, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if tag == "" && opts == "inline" && sf.Type.Kind() == reflect.Struct {
			walk(sf.Type, prefix, out) // an inlined struct's settings are the section's own
			continue
		}
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + tag
		ft := sf.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft == listenType:
			*out = append(*out, Field{Name: name + ".control", Type: leafType(endpointType)})
			for _, tr := range registry.All() {
				*out = append(*out, Field{Name: name + "." + tr.Name, Type: leafType(endpointType)})
			}
		case ft.Kind() == reflect.Struct && leafType(ft) == "":
			walk(ft, name+".", out)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct && leafType(ft.Elem()) == "":
			*out = append(*out, Field{Name: name, Type: "list of mappings"})
			walk(ft.Elem(), name+"[].", out)
		default:
			*out = append(*out, Field{Name: name, Type: leafType(ft)})
		}
	}
}

// leafType names a value type; "" for a section (a struct of settings).
func leafType(t reflect.Type) string {
	switch t {
	case endpointType:
		return "address:port"
	case prefixType:
		return "prefix"
	case addrType:
		return "IP address"
	case durationType:
		return "duration"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int:
		return "integer"
	case reflect.Slice:
		if e := leafType(t.Elem()); e != "" {
			return "list of " + e
		}
	}
	return ""
}

// Entry is what the reference says of a setting beyond its type and
// reload behaviour.
type Entry struct {
	// Default is the value when the setting is absent ("required" when it
	// must be given).
	Default string
	// Example is a value as written in the file.
	Example string
	// Doc says what the setting does.
	Doc string
}

// section names the part of the reference a setting belongs to.
func section(name string) string {
	top := strings.FieldsFunc(name, func(r rune) bool { return r == '.' || r == '[' })[0]
	switch top {
	case "identity", "interface", "listen", "remotes", "p2s", "pki", "console", "store":
		return top
	}
	return "general"
}

// sectionTitles are the headings of the reference, in order.
var sectionTitles = []struct{ key, title, doc string }{
	{"general", "General settings", ""},
	{"identity", "identity: the gateway's certificate and trust", "Files are PEM; relative paths are read from the configuration file's directory. A reload re-reads the files in place (a changed certificate, CA bundle or CRL is used without a restart); changing a path needs a restart."},
	{"interface", "interface: the site-to-site TUN device", ""},
	{"listen", "listen: where the gateway listens", "The port is where the gateway listens, on every address; a specified address is also what peers are told to reach the data plane at, 0.0.0.0 or [::] advertises the address the peer reached. At least one data-plane transport must be served, except on a gateway for laptops only (a p2s section and no remotes): without listen it opens no site-to-site interface or port. UDP and TCP ports are separate: quic and tls may both use 443."},
	{"remotes", "remotes: the other sites' gateways", "A reload adds, removes and restarts remotes one by one; the tunnels of unchanged remotes stay up."},
	{"p2s", "p2s: point-to-site (laptops)", "Present: the gateway also serves laptops. Its ports must differ from the site-to-site ones of the same network (TCP or UDP)."},
	{"pki", "pki: the CA this gateway holds", "Present: the daemon holds the PKI open, `intransit pki` reaches it through DIR/admin.sock, and a revocation is published to identity.crl and cuts the peer or laptop at once."},
	{"console", "console: the web console", "Present: the daemon serves the web console. On loopback it speaks plain HTTP to any local user; on any other address HTTPS, and only certificates of the PKI in the admin role get in."},
	{"store", "store: where point-to-site state and PKI records live", "bolt (the default) keeps them in files on this host; etcd shares them between gateways."},
}

// ConfigReference renders the reference of every setting as Markdown
// tables, one per section; entries says what each setting is. It fails
// when a setting has no entry or an entry names no setting.
func ConfigReference(entries map[string]Entry) (string, error) {
	fields := Fields()
	if err := checkEntries(fields, entries); err != nil {
		return "", err
	}
	var b strings.Builder
	for _, s := range sectionTitles {
		fmt.Fprintf(&b, "### %s\n\n", s.title)
		if s.doc != "" {
			fmt.Fprintf(&b, "%s\n\n", s.doc)
		}
		b.WriteString("| setting | type | default | on reload | example | what it does |\n| --- | --- | --- | --- | --- | --- |\n")
		for _, f := range fields {
			if section(f.Name) != s.key {
				continue
			}
			e := entries[f.Name]
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", f.Name, f.Type, cell(e.Default), reloadWord(f.Reload), code(e.Example), cell(e.Doc))
		}
		b.WriteString("\n")
	}
	return b.String(), nil
}

// ConfigManual renders the same reference for a manual page: one
// paragraph per setting.
func ConfigManual(entries map[string]Entry) (string, error) {
	fields := Fields()
	if err := checkEntries(fields, entries); err != nil {
		return "", err
	}
	var b strings.Builder
	for _, s := range sectionTitles {
		fmt.Fprintf(&b, "## %s\n\n", strings.ToUpper(s.title[:1])+s.title[1:])
		if s.doc != "" {
			fmt.Fprintf(&b, "%s\n\n", s.doc)
		}
		for _, f := range fields {
			if section(f.Name) != s.key {
				continue
			}
			e := entries[f.Name]
			fmt.Fprintf(&b, "**%s** (%s; default %s; %s)\n: %s", f.Name, f.Type, e.Default, reloadWord(f.Reload), e.Doc)
			if e.Example != "" {
				fmt.Fprintf(&b, " Example: `%s`.", e.Example)
			}
			b.WriteString("\n\n")
		}
	}
	return b.String(), nil
}

// checkEntries reports the settings without an entry and the entries
// without a setting.
func checkEntries(fields []Field, entries map[string]Entry) error {
	known := map[string]bool{}
	var problems []string
	for _, f := range fields {
		known[f.Name] = true
		if e, ok := entries[f.Name]; !ok || e.Doc == "" || e.Default == "" {
			problems = append(problems, fmt.Sprintf("setting %s is missing from the reference (docs/entries.go)", f.Name))
		}
	}
	var stale []string
	for name := range entries {
		if !known[name] {
			stale = append(stale, fmt.Sprintf("the reference names %s, which is no setting of daemonconfig.Config", name))
		}
	}
	sort.Strings(stale)
	problems = append(problems, stale...)
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return nil
}

func reloadWord(reload bool) string {
	if reload {
		return "reload"
	}
	return "restart"
}

// cell escapes a table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// code writes an example as code, or a dash when there is none.
func code(s string) string {
	if s == "" {
		return "-"
	}
	return "`" + cell(s) + "`"
}
