package tlspolicy

import (
	"crypto/tls"
	"math/big"
	"testing"
)

// TestNamesOfWhatClientsOffer checks that logs name what a client offers
// rather than printing CurveID(30) or 0x7F16.
func TestNamesOfWhatClientsOffer(t *testing.T) {
	groups := []struct {
		g    tls.CurveID
		want string
	}{
		{0, "none"},
		{tls.X25519MLKEM768, "X25519MLKEM768"},
		{tls.CurveP256, "P-256"},
		{30, "X448"},
		{0x0100, "ffdhe2048"},
		{0x2A2A, "GREASE(0x2A2A)"},
		{0x7777, "0x7777"},
	}
	for _, tt := range groups {
		if got := GroupName(tt.g); got != tt.want {
			t.Errorf("GroupName(%d) = %q, want %q", uint16(tt.g), got, tt.want)
		}
	}
	suites := []struct {
		s    uint16
		want string
	}{
		{tls.TLS_AES_128_GCM_SHA256, "TLS_AES_128_GCM_SHA256"},
		{0x009F, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"},
		{0x00FF, "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"},
		{0x5600, "TLS_FALLBACK_SCSV"},
		{0xCACA, "GREASE(0xCACA)"},
		{0x7F16, "0x7F16"},
	}
	for _, tt := range suites {
		if got := SuiteName(tt.s); got != tt.want {
			t.Errorf("SuiteName(0x%04X) = %q, want %q", tt.s, got, tt.want)
		}
	}
	versions := []struct {
		v    uint16
		want string
	}{
		{tls.VersionTLS11, "TLS 1.1"},
		{0x7F16, "TLS 1.3 draft 22"},
		{0x0300, "SSLv3"},
		{0x1A1A, "GREASE(0x1A1A)"},
	}
	for _, tt := range versions {
		if got := VersionName(tt.v); got != tt.want {
			t.Errorf("VersionName(0x%04X) = %q, want %q", tt.v, got, tt.want)
		}
	}
	for _, tt := range []struct {
		hex, want string
	}{
		{"0a1b", "0a1b"},
		{"77bd8c3fbb0dfb41251f2573bd36fa5", "077bd8c3fbb0dfb41251f2573bd36fa5"},
		{"0", "00"},
		{"-ff", "-ff"},
	} {
		sn, _ := new(big.Int).SetString(tt.hex, 16)
		if got := FormatSerial(sn); got != tt.want {
			t.Errorf("FormatSerial(0x%s) = %q, want %q", tt.hex, got, tt.want)
		}
	}
}
