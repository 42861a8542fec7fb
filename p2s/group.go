package p2s

import (
	"fmt"
	"regexp"
)

var groupNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// CheckGroupName checks the name of a client group: 1 to 32 lower-case
// letters, digits, '_' or '-', starting with a letter or digit. It is the
// name rule of package pki without dots and shorter, because a group's
// name becomes part of the names of its nftables sets. The error quotes the
// name and says what is allowed; the caller adds where it was found.
func CheckGroupName(name string) error {
	if !groupNamePattern.MatchString(name) {
		return fmt.Errorf("%q: use 1 to 32 lower-case letters, digits, '_' or '-', starting with a letter or digit", name)
	}
	return nil
}
