package pki

import "testing"

func TestParseSerial(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"5f3a9c0e7d1b2a4c", "5f3a9c0e7d1b2a4c", true},
		{"5F:3A:9C:0E:7D:1B:2A:4C", "5f3a9c0e7d1b2a4c", true},
		{"0x0abc", "0abc", true},
		{"0xabc", "0abc", true},
		{"", "", false},
		{"0", "", false},
		{"xyz", "", false},
		{"-1", "", false},
	} {
		got, err := ParseSerial(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseSerial(%q): err = %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && FormatSerial(got) != tc.want {
			t.Errorf("ParseSerial(%q) = %s, want %s", tc.in, FormatSerial(got), tc.want)
		}
	}
}
