package pki

import (
	"math/big"
	"testing"
)

func TestFormatSerialKeepsLeadingZeros(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"0x0a", "0a"},
		{"0x0a0b", "0a0b"},
		{"0x0f3a9c0e7d1b2a4c6e8f0a1b2c3d4e5f", "0f3a9c0e7d1b2a4c6e8f0a1b2c3d4e5f"},
		{"0x7f3a9c0e7d1b2a4c6e8f0a1b2c3d4e5f", "7f3a9c0e7d1b2a4c6e8f0a1b2c3d4e5f"},
	} {
		n, _ := new(big.Int).SetString(tc.in, 0)
		if got := FormatSerial(n); got != tc.want {
			t.Errorf("FormatSerial(%s) = %q, want %q (whole bytes, as openssl prints)", tc.in, got, tc.want)
		}
	}
}

func TestSerialCandidates(t *testing.T) {
	dec := "127543982735421098765432109876543210"
	n, _ := new(big.Int).SetString(dec, 10)
	got := serialCandidates(dec)
	if len(got) != 2 || got[1].Cmp(n) != 0 {
		t.Fatalf("serialCandidates(%s) = %v, want the hex reading and the decimal %s", dec, got, n)
	}
	if got := serialCandidates("gw1"); got != nil {
		t.Errorf("serialCandidates(gw1) = %v, want none (a name)", got)
	}
	if got := serialCandidates("0A:0B:0C:0D:0E:0F:10:11"); len(got) != 1 || FormatSerial(got[0]) != "0a0b0c0d0e0f1011" {
		t.Errorf("serialCandidates(colons) = %v, want one, 0a0b0c0d0e0f1011", got)
	}
}

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
		{"a0b0c", "0a0b0c", true},
		{"serial=0A0B0C", "", false},
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
