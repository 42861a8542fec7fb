package tlspolicy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"testing"
)

func TestRefusalAlert(t *testing.T) {
	expired := x509.CertificateInvalidError{Reason: x509.Expired}
	tests := []struct {
		r    *Refusal
		want tls.AlertError
	}{
		{refuse(ReasonVersion, "TLS 1.1"), 70},
		{refuse(ReasonCipherSuite, "AES256-SHA"), 40},
		{refuse(ReasonGroup, "X25519 only"), 71},
		{refuse(ReasonNoCertificate, "none"), 40},
		{refuse(ReasonPeerKey, "RSA 1024"), 42},
		{refuse(ReasonSignature, "SHA1"), 42},
		{refuse(ReasonChain, "client certificate: %w", x509.UnknownAuthorityError{}), 48},
		{refuse(ReasonExpired, "client certificate: %w", expired), 45},
		{refuse(ReasonChain, "client certificate: %w", x509.HostnameError{}), 42},
		{refuse(ReasonRevoked, "on the CRL"), 44},
		{refuse(ReasonRevocationUnknown, "CRL stale"), 46},
		{refuse(ReasonIdentity, "not allowed"), 49},
		{refuse(ReasonHandshake, "EOF"), 80},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %v", tt.r.Reason, tt.r.Err), func(t *testing.T) {
			if got := tt.r.Alert(); got != tt.want {
				t.Errorf("Alert() = %d (%v), want %d (%v)", got, got, tt.want, tt.want)
			}
			// A QUIC handshake sends the tls.AlertError the error wraps.
			var a tls.AlertError
			if err := fmt.Errorf("handshake: %w", tt.r); !errors.As(err, &a) || a != tt.want {
				t.Errorf("wrapped refusal unwraps to alert %d, want %d", a, tt.want)
			}
		})
	}
}
