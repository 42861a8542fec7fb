package pki

import (
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"gw1", true},
		{"a", true},
		{"0", true},
		{"site-b", true},
		{"laptop_7", true},
		{"gw.example.net", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{"", false},
		{"GW1", false},
		{"Alice", false},
		{"-lead", false},
		{".hidden", false},
		{"_x", false},
		{"a b", false},
		{"a/b", false},
		{"../etc", false},
		{"a:b", false},
		{"é", false},
		{"a\n", false},
	} {
		err := CheckName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("CheckName(%q) = %v, want ok %v", tc.name, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "lower-case letters") {
			t.Errorf("CheckName(%q): error %q does not say what is allowed", tc.name, err)
		}
	}
}
