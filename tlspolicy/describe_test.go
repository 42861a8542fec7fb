package tlspolicy

import (
	"strings"
	"testing"
)

// TestDescribeNamesEveryRule checks that a built-in profile's description
// names each version, suite, group, key rule and signature algorithm of the
// profile, and nothing of the other profiles' versions.
func TestDescribeNamesEveryRule(t *testing.T) {
	for _, name := range BuiltinNames() {
		p, err := Builtin(name)
		if err != nil {
			t.Fatal(err)
		}
		d := p.Describe("  ")
		t.Logf("%s:\n%s", name, d)
		want := []string{"versions:       " + VersionName(p.MinVersion), "groups:         " + groupList(p.Groups)}
		for _, s := range p.CipherSuites {
			want = append(want, SuiteName(s))
		}
		for _, s := range p.TLS13CipherSuites {
			want = append(want, SuiteName(s))
		}
		for _, a := range p.SignatureAlgorithms {
			want = append(want, a.String())
		}
		want = append(want, p.Keys.ECDSACurves...)
		for _, w := range want {
			if !strings.Contains(d, w) {
				t.Errorf("%s: description lacks %q:\n%s", name, w, d)
			}
		}
		if got := strings.Contains(d, "TLS 1.2 suites"); got != (p.MinVersion <= 0x0303) {
			t.Errorf("%s: TLS 1.2 suites listed = %v for a profile from %s", name, got, VersionName(p.MinVersion))
		}
		if got := strings.Contains(d, "RSA >= 2048 bits"); got != (p.Keys.MinRSABits == 2048) {
			t.Errorf("%s: RSA rule listed = %v, MinRSABits %d", name, got, p.Keys.MinRSABits)
		}
	}
}
