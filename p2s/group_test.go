package p2s

import (
	"strings"
	"testing"
)

func TestCheckGroupName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"staff", true},
		{"admins-2", true},
		{"night_shift", true},
		{"0", true},
		{strings.Repeat("g", 32), true},
		{strings.Repeat("g", 33), false},
		{"", false},
		{"Staff", false},
		{"corp.staff", false},
		{"-staff", false},
		{"_staff", false},
		{"staff team", false},
		{"staff;", false},
	} {
		err := CheckGroupName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("CheckGroupName(%q) = %v, want ok %v", tc.name, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "lower-case letters") {
			t.Errorf("CheckGroupName(%q): error %q does not say what is allowed", tc.name, err)
		}
	}
}
