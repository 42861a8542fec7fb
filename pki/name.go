package pki

import (
	"fmt"
	"regexp"
)

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// CheckName checks a name against the one rule for names: 1 to 63
// lower-case letters, digits, '.', '_' or '-', starting with a letter or
// digit. Certificates follow it, and so does everything named after or
// beside one: point-to-site clients and static devices, laptop profiles,
// remote gateways. Lower case only, so that two names never differ by case
// alone in an identity URI, a file name or a metric label. The error
// quotes the name and says what is allowed; the caller adds what the name
// is of.
func CheckName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%q: use 1 to 63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}
