package status

import (
	"strings"
	"testing"
	"time"
)

// TestJudge walks the certificate states: far from expiry, within 30 days
// but renewing later, within 30 days past its renewal time, not renewed
// at all, failing renewals, expired.
func TestJudge(t *testing.T) {
	now := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	for _, tc := range []struct {
		name    string
		c       Certificate
		state   string
		warnHas string
	}{
		{"far", Certificate{NotAfter: now.Add(60 * day), RenewAt: now.Add(30 * day)}, CertOK, ""},
		{"far, not renewed", Certificate{NotAfter: now.Add(60 * day)}, CertOK, ""},
		{"short life, renewal ahead", Certificate{NotAfter: now.Add(10 * time.Minute), RenewAt: now.Add(3 * time.Minute)}, CertOK, ""},
		{"within 30 days, renewal due", Certificate{NotAfter: now.Add(20 * day), RenewAt: now.Add(-day)}, CertExpiring, "expires in 480h0m0s"},
		{"within 30 days, not renewed", Certificate{NotAfter: now.Add(29 * day)}, CertExpiring, "not renewed automatically"},
		{"failing, far", Certificate{NotAfter: now.Add(60 * day), RenewAt: now.Add(-day), LastError: "refused", NextAttempt: now.Add(time.Minute)}, CertRetrying, "renewal failing: refused, next attempt"},
		{"failing, within 30 days", Certificate{NotAfter: now.Add(day), RenewAt: now.Add(-day), LastError: "unreachable"}, CertExpiring, "renewal failing: unreachable"},
		{"expired", Certificate{NotAfter: now.Add(-time.Second)}, CertExpired, "expired at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			c.Name = "identity"
			c.Judge(now)
			if c.State != tc.state {
				t.Errorf("state %s, want %s", c.State, tc.state)
			}
			if (tc.warnHas == "") != (c.Warning == "") || !strings.Contains(c.Warning, tc.warnHas) {
				t.Errorf("warning %q, want one containing %q", c.Warning, tc.warnHas)
			}
		})
	}
}
