package docs

import _ "embed"

//go:embed intransitd.8.md
var daemonManual []byte

// DaemonManual returns the source of the intransitd(8) manual page, in the
// Markdown that go-md2man renders; its CONFIGURATION section is the
// reference of ConfigManual.
func DaemonManual() []byte { return daemonManual }
