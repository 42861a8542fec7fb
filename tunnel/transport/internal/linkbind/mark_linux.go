package linkbind

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// SetMark sets SO_MARK on the socket behind rc; mark 0 clears it.
func SetMark(rc syscall.RawConn, mark uint32) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(mark))
	}); err != nil {
		return fmt.Errorf("set SO_MARK: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("set SO_MARK %d: %w", mark, serr)
	}
	return nil
}
