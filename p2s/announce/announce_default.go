//go:build !linux

package announce

import (
	"errors"
	"log/slog"
)

// Open fails: answering ARP needs Linux packet sockets.
func Open(iface string, log *slog.Logger) (Announcer, error) {
	return nil, errors.New("announce: needs Linux")
}
