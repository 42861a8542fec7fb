package daemonconfig

import (
	"errors"
	"testing"
)

// FuzzParse: no input makes Parse panic, and every failure is an *Error
// that names the file.
func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("remotes: [{name: a, allowed_prefixes: [10.0.0.0/8]}]\n"))
	f.Add([]byte("site_prefixes: [::/0, 0.0.0.0/0]\n"))
	f.Add([]byte("psk_rotation: -1s\n"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.File != "fuzz.yaml" {
				t.Fatalf("error %v (%T) is not an *Error naming the file", err, err)
			}
			return
		}
		if len(c.SitePrefixes) == 0 || c.Interface.MTU == 0 || c.PSKRotation.Duration <= 0 {
			t.Fatalf("accepted an incomplete configuration: %+v", c)
		}
	})
}
