//go:build !linux

package tunnel

import (
	"errors"
	"net/netip"

	"golang.zx2c4.com/wireguard/tun"
)

// errUnsupported is returned by Open on systems other than Linux: the
// offload switch and the netlink configuration are Linux-specific.
var errUnsupported = errors.New("tunnel devices are supported on Linux only")

func createTUN(string, int, bool) (tun.Device, error) { return nil, errUnsupported }

// link has nothing to undo where configureLink cannot run.
type link struct{}

func configureLink(string, int, []netip.Prefix, []netip.Prefix) (*link, error) {
	return nil, errUnsupported
}

func (*link) unconfigure() error { return nil }
