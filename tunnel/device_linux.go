package tunnel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/tun"
)

// createTUN opens a TUN interface. With offloads it is wireguard-go's
// tun.CreateTUN, which asks for IFF_VNET_HDR and turns on TSO/USO. Without,
// the interface is created here without IFF_VNET_HDR and handed to
// tun.CreateTUNFromFile, which then sees no virtio header and reads and
// writes one packet at a time.
func createTUN(name string, mtu int, offloads bool) (tun.Device, error) {
	if offloads {
		return tun.CreateTUN(name, mtu)
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("interface name %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF %s: %w", name, err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("non-blocking TUN: %w", err)
	}
	f := os.NewFile(uintptr(fd), "/dev/net/tun")
	td, err := tun.CreateTUNFromFile(f, mtu)
	if err != nil {
		f.Close()
		return nil, err
	}
	return td, nil
}

// link is what configureLink changed on an interface, so that it can be
// undone.
type link struct {
	index  int
	addrs  []*netlink.Addr
	routes []*netlink.Route
}

// configureLink sets the MTU, adds the addresses, brings the interface up
// and adds the routes. On error it undoes what it did.
func configureLink(name string, mtu int, addrs, routes []netip.Prefix) (*link, error) {
	nl, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("finding interface: %w", err)
	}
	l := &link{index: nl.Attrs().Index}
	if err := netlink.LinkSetMTU(nl, mtu); err != nil {
		return nil, fmt.Errorf("setting MTU %d: %w", mtu, err)
	}
	for _, p := range addrs {
		a := &netlink.Addr{IPNet: prefixNet(p)}
		if p.Addr().Is6() {
			a.Flags = unix.IFA_F_NODAD
		}
		if err := netlink.AddrAdd(nl, a); err != nil {
			_ = l.unconfigure()
			return nil, fmt.Errorf("adding address %s: %w", p, err)
		}
		l.addrs = append(l.addrs, a)
	}
	if err := netlink.LinkSetUp(nl); err != nil {
		_ = l.unconfigure()
		return nil, fmt.Errorf("setting link up: %w", err)
	}
	for _, p := range routes {
		r := &netlink.Route{LinkIndex: l.index, Dst: prefixNet(p.Masked()), Scope: netlink.SCOPE_LINK}
		if err := netlink.RouteAdd(r); err != nil {
			_ = l.unconfigure()
			return nil, fmt.Errorf("adding route %s: %w", p, err)
		}
		l.routes = append(l.routes, r)
	}
	return l, nil
}

// unconfigure removes the routes and addresses configureLink added. Those
// already gone (with the interface, or by hand) are not errors.
func (l *link) unconfigure() error {
	var errs []error
	for _, r := range l.routes {
		if err := netlink.RouteDel(r); err != nil && !gone(err) {
			errs = append(errs, fmt.Errorf("removing route %s: %w", r.Dst, err))
		}
	}
	l.routes = nil
	nl, err := netlink.LinkByIndex(l.index)
	if err == nil {
		for _, a := range l.addrs {
			if err := netlink.AddrDel(nl, a); err != nil && !gone(err) {
				errs = append(errs, fmt.Errorf("removing address %s: %w", a.IPNet, err))
			}
		}
	}
	l.addrs = nil
	return errors.Join(errs...)
}

func gone(err error) bool {
	var lnf netlink.LinkNotFoundError
	return errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) ||
		errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EADDRNOTAVAIL) || errors.As(err, &lnf)
}

// prefixNet converts a prefix to the net.IPNet netlink wants.
func prefixNet(p netip.Prefix) *net.IPNet {
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), bits)}
}
