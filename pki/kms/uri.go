package kms

import (
	"fmt"
	"net/url"
	"strings"
)

// URI names a key in a PKCS#11 token, as RFC 7512 writes it:
//
//	pkcs11:token=intransit;object=root?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/intransit/pin
//
// The PIN is never part of it: pin-source names a file holding the PIN,
// which must not be accessible to group or others. pin-value is refused.
type URI struct {
	// Token is the token label (path attribute token); required.
	Token string
	// Object is the key's label (path attribute object); empty lets the
	// caller choose one.
	Object string
	// ModulePath is the PKCS#11 library (query attribute module-path);
	// required.
	ModulePath string
	// PINFile is the file holding the PIN (query attribute pin-source,
	// "file:" URI or plain absolute path); required.
	PINFile string
}

// ParseURI parses a PKCS#11 URI. The error names the attribute at fault.
func ParseURI(s string) (URI, error) {
	rest, ok := strings.CutPrefix(s, "pkcs11:")
	if !ok {
		return URI{}, fmt.Errorf("PKCS#11 URI %q: must start with pkcs11: (RFC 7512)", s)
	}
	path, query, _ := strings.Cut(rest, "?")
	var u URI
	if path != "" {
		for _, attr := range strings.Split(path, ";") {
			k, v, err := attribute(attr)
			if err != nil {
				return URI{}, fmt.Errorf("PKCS#11 URI: path attribute %q: %w", attr, err)
			}
			switch k {
			case "token":
				u.Token = v
			case "object":
				u.Object = v
			case "type":
				if v != "private" && v != "secret-key" {
					return URI{}, fmt.Errorf("PKCS#11 URI: type=%s: only private and secret-key name keys", v)
				}
			default:
				return URI{}, fmt.Errorf("PKCS#11 URI: path attribute %q is not supported (use token, object, type)", k)
			}
		}
	}
	if query != "" {
		for _, attr := range strings.Split(query, "&") {
			k, v, err := attribute(attr)
			if err != nil {
				return URI{}, fmt.Errorf("PKCS#11 URI: query attribute %q: %w", attr, err)
			}
			switch k {
			case "module-path":
				u.ModulePath = v
			case "pin-source":
				p := strings.TrimPrefix(v, "file:")
				if !strings.HasPrefix(p, "/") {
					return URI{}, fmt.Errorf("PKCS#11 URI: pin-source %q must be file:/absolute/path", v)
				}
				u.PINFile = p
			case "pin-value":
				return URI{}, fmt.Errorf("PKCS#11 URI: pin-value puts the PIN on the command line; use pin-source=file:/path (mode 0600)")
			default:
				return URI{}, fmt.Errorf("PKCS#11 URI: query attribute %q is not supported (use module-path, pin-source)", k)
			}
		}
	}
	switch {
	case u.Token == "":
		return URI{}, fmt.Errorf("PKCS#11 URI %q: token=LABEL is required", s)
	case u.ModulePath == "":
		return URI{}, fmt.Errorf("PKCS#11 URI %q: module-path=/path/to/module.so is required", s)
	case u.PINFile == "":
		return URI{}, fmt.Errorf("PKCS#11 URI %q: pin-source=file:/path is required (the PIN never goes on the command line)", s)
	}
	return u, nil
}

func attribute(attr string) (string, string, error) {
	k, v, ok := strings.Cut(attr, "=")
	if !ok || k == "" {
		return "", "", fmt.Errorf("want name=value")
	}
	val, err := url.PathUnescape(v)
	if err != nil {
		return "", "", fmt.Errorf("bad percent-encoding: %w", err)
	}
	return k, val, nil
}

// WithObject returns u naming the key labelled object.
func (u URI) WithObject(object string) URI {
	u.Object = object
	return u
}

// String writes the URI back in RFC 7512 form; it holds no secret.
func (u URI) String() string {
	esc := func(s string) string { return strings.ReplaceAll(url.PathEscape(s), ";", "%3B") }
	var b strings.Builder
	b.WriteString("pkcs11:token=" + esc(u.Token))
	if u.Object != "" {
		b.WriteString(";object=" + esc(u.Object))
	}
	b.WriteString("?module-path=" + esc(u.ModulePath) + "&pin-source=file:" + esc(u.PINFile))
	return b.String()
}
