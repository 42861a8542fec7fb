//go:build !linux

package linkbind

import "syscall"

// SetMark does nothing where SO_MARK does not exist, as wireguard-go's own
// Bind does.
func SetMark(rc syscall.RawConn, mark uint32) error { return nil }
