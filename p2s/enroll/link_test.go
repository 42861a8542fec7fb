package enroll

import (
	"strings"
	"testing"
)

func TestLink(t *testing.T) {
	tok, err := newTokenText([]byte("root"))
	if err != nil {
		t.Fatal(err)
	}
	link := Link("https://vpn.example.com:8445/", tok.String())
	if link != "https://vpn.example.com:8445/#"+tok.String() {
		t.Fatalf("link %q", link)
	}
	base, got, ok, err := ParseLink(link)
	if err != nil || !ok || base != "https://vpn.example.com:8445" || got != tok.String() {
		t.Fatalf("ParseLink(%q) = %q %q %v %v", link, base, got, ok, err)
	}
	if base, _, ok, err := ParseLink("https://vpn.example.com:8445"); err != nil || ok || base != "https://vpn.example.com:8445" {
		t.Fatalf("a plain base URL: %q %v %v", base, ok, err)
	}
	if _, _, _, err := ParseLink("https://vpn.example.com:8445/#nottoken"); err == nil || !strings.Contains(err.Error(), "enrollment link: token") {
		t.Fatalf("a bad token in a link: %v", err)
	}
}
