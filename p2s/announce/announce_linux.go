package announce

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// An announcement is repeated after repeatFirst and repeatLast, in case
// the first was lost.
const (
	repeatFirst = 300 * time.Millisecond
	repeatLast  = time.Second
)

// readRetry is the wait after a failed read of the packet socket.
const readRetry = 100 * time.Millisecond

// ARP is the Announcer on one Ethernet interface of the site LAN (Open).
type ARP struct {
	iface string
	mac   net.HardwareAddr
	f     *os.File
	log   *slog.Logger
	wg    sync.WaitGroup

	mu     sync.Mutex
	addrs  map[netip.Addr]bool
	closed bool
}

var _ Announcer = (*ARP)(nil)

// Open starts answering ARP on the Ethernet interface named iface (for
// nothing until Announce).
func Open(iface string, log *slog.Logger) (Announcer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("announce: interface %s: %w", iface, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("announce: interface %s has no Ethernet address", iface)
	}
	proto := htons(etherTypeARP)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, int(proto))
	if err != nil {
		return nil, fmt.Errorf("announce: packet socket on %s: %w", iface, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("announce: bind to %s: %w", iface, err)
	}
	a := &ARP{iface: iface, mac: ifi.HardwareAddr, f: os.NewFile(uintptr(fd), "arp:"+iface), log: log, addrs: map[netip.Addr]bool{}}
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.serve() }()
	return a, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// owns reports whether addr is announced.
func (a *ARP) owns(addr netip.Addr) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addrs[addr]
}

// serve answers requests until Close.
func (a *ARP) serve() {
	buf := make([]byte, 1500)
	for {
		n, err := a.f.Read(buf)
		if errors.Is(err, os.ErrClosed) {
			return
		}
		if err != nil {
			// The interface went down, for one: wait rather than spin.
			a.log.Debug("announce: read", "interface", a.iface, "error", err.Error())
			time.Sleep(readRetry)
			continue
		}
		if r := answer(buf[:n], a.mac, a.owns); r != nil {
			if _, err := a.f.Write(r); err != nil {
				a.log.Debug("announce: reply", "interface", a.iface, "error", err.Error())
			}
		}
	}
}

// Announce implements Announcer.
func (a *ARP) Announce(addrs ...netip.Addr) error {
	var v4 []netip.Addr
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return errors.New("announce: closed")
	}
	for _, ad := range addrs {
		if ad = ad.Unmap(); ad.Is4() {
			a.addrs[ad] = true
			v4 = append(v4, ad)
		}
	}
	a.mu.Unlock()
	for _, d := range []time.Duration{repeatFirst, repeatLast} {
		// After Close, owns is false for every address: nothing is sent.
		time.AfterFunc(d, func() { _ = a.send(v4, false) })
	}
	return a.send(v4, true)
}

// send announces the addresses still announced; with first, an error is
// returned rather than logged.
func (a *ARP) send(addrs []netip.Addr, first bool) error {
	var errs []error
	for _, ad := range addrs {
		if !a.owns(ad) {
			continue
		}
		if _, err := a.f.Write(gratuitous(a.mac, ad)); err != nil {
			errs = append(errs, fmt.Errorf("announce %s on %s: %w", ad, a.iface, err))
		}
	}
	err := errors.Join(errs...)
	if err != nil && !first && !errors.Is(err, os.ErrClosed) {
		a.log.Warn("announce: repeating an announcement failed", "error", err.Error())
	}
	return err
}

// Withdraw implements Announcer.
func (a *ARP) Withdraw(addrs ...netip.Addr) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ad := range addrs {
		delete(a.addrs, ad.Unmap())
	}
	return nil
}

// Close implements Announcer.
func (a *ARP) Close() error {
	a.mu.Lock()
	a.closed = true
	a.addrs = map[netip.Addr]bool{}
	a.mu.Unlock()
	err := a.f.Close()
	a.wg.Wait()
	return err
}
