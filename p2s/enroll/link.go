package enroll

import (
	"fmt"
	"net/url"
	"strings"
)

// Link is an enrollment link: the enrollment API's base URL with the token
// as its fragment, "https://vpn.example.com:8445/#itp1.<id>.<secret>.<pin>".
// A fragment is never sent to a server, so a link opened by mistake in a
// browser does not leak the token to anyone but the browser.
func Link(base, token string) string {
	return strings.TrimRight(base, "/") + "/#" + token
}

// ParseLink splits an enrollment link into its base URL and token; ok is
// false when s carries no token (a plain base URL).
func ParseLink(s string) (base, token string, ok bool, err error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", "", false, fmt.Errorf("enrollment link %q: %w", s, err)
	}
	if u.Fragment == "" {
		return s, "", false, nil
	}
	if _, err := ParseToken(u.Fragment); err != nil {
		return "", "", false, fmt.Errorf("enrollment link: %w", err)
	}
	token = u.Fragment
	u.Fragment, u.RawFragment = "", ""
	return strings.TrimRight(u.String(), "/"), token, true, nil
}
