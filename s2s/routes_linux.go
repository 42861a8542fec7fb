package s2s

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink"
)

// routeTable installs routes for remote prefixes into the TUN interface.
// Each route has an owner (the remote that installed it); only its owner
// removes it, so a remote being replaced after a reload never removes the
// routes its successor installed.
type routeTable struct {
	index int
	mu    sync.Mutex
	have  map[netip.Prefix]any
}

func newRouteTable(iface string) (*routeTable, error) {
	l, err := netlink.LinkByName(iface)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", iface, err)
	}
	return &routeTable{index: l.Attrs().Index, have: map[netip.Prefix]any{}}, nil
}

func (t *routeTable) route(p netip.Prefix) *netlink.Route {
	return &netlink.Route{LinkIndex: t.index, Dst: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}, Scope: netlink.SCOPE_LINK}
}

// add installs routes for owner (replacing any route to the same prefix).
func (t *routeTable) add(owner any, ps []netip.Prefix) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	for _, p := range ps {
		if err := netlink.RouteReplace(t.route(p)); err != nil {
			errs = append(errs, fmt.Errorf("route %s: %w", p, err))
			continue
		}
		t.have[p] = owner
	}
	return errors.Join(errs...)
}

// remove deletes the routes owner installed; a route already gone is not
// an error, one that another owner installed since is left alone.
func (t *routeTable) remove(owner any, ps []netip.Prefix) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	for _, p := range ps {
		if o, ok := t.have[p]; !ok || o != owner {
			continue
		}
		delete(t.have, p)
		if err := netlink.RouteDel(t.route(p)); err != nil && !errors.Is(err, syscall.ESRCH) && !errors.Is(err, syscall.ENODEV) {
			errs = append(errs, fmt.Errorf("route %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// removeAll deletes every route the table installed.
func (t *routeTable) removeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p := range t.have {
		delete(t.have, p)
		_ = netlink.RouteDel(t.route(p))
	}
}
