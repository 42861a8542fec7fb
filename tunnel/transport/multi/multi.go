// Package multi serves several transports on one WireGuard device: a
// gateway listens on UDP 51820, QUIC on UDP 443 and TLS on TCP 443 at once,
// and a client keeps the transports it may fall back between ready.
//
// Send goes to the member that made the endpoint (Owns), so a reply leaves
// on the transport and connection its request came on. ParseEndpoint picks
// the member by the string's scheme ("quic://...", "tls://...", "udp://...");
// a string without a scheme belongs to the first member, which is also the
// one that listens on the port the device opens the Bind with — list UDP
// first, so that plain endpoints and the device's listen port mean what they
// mean in stock WireGuard.
package multi

import (
	"errors"
	"fmt"
	"strings"

	"golang.zx2c4.com/wireguard/conn"

	"intransit/tunnel/transport"
)

// Scheme is what a multi Bind's Scheme returns.
const Scheme = "multi"

// Member is one transport of a multi Bind.
type Member struct {
	// Bind is the transport.
	Bind transport.Bind
	// Port is the port this member opens on. The first member ignores it
	// and opens on the port the device asks for.
	Port uint16
}

// Bind is a transport.Bind made of several.
type Bind struct {
	members []Member
}

var _ transport.Bind = (*Bind)(nil)

// New returns a Bind over members, which must be at least one and of
// distinct schemes.
func New(members ...Member) (*Bind, error) {
	if len(members) == 0 {
		return nil, errors.New("multi transport: no members")
	}
	seen := make(map[string]bool)
	for i, m := range members {
		if m.Bind == nil {
			return nil, fmt.Errorf("multi transport: member %d has no Bind", i)
		}
		s := m.Bind.Scheme()
		if seen[s] {
			return nil, fmt.Errorf("multi transport: transport %q given twice", s)
		}
		seen[s] = true
	}
	return &Bind{members: append([]Member(nil), members...)}, nil
}

// Scheme returns Scheme.
func (b *Bind) Scheme() string { return Scheme }

// Schemes lists the members' schemes in order.
func (b *Bind) Schemes() []string {
	s := make([]string, len(b.members))
	for i, m := range b.members {
		s[i] = m.Bind.Scheme()
	}
	return s
}

// Owns reports whether a member made ep.
func (b *Bind) Owns(ep conn.Endpoint) bool { return b.owner(ep) != nil }

func (b *Bind) owner(ep conn.Endpoint) transport.Bind {
	for _, m := range b.members {
		if m.Bind.Owns(ep) {
			return m.Bind
		}
	}
	return nil
}

// Open opens every member, the first on port and the others on their own
// ports, and returns all their ReceiveFuncs and the first member's port.
// If one member fails, the ones already open are closed again.
func (b *Bind) Open(port uint16) ([]conn.ReceiveFunc, uint16, error) {
	var (
		fns    []conn.ReceiveFunc
		actual uint16
	)
	for i, m := range b.members {
		p := m.Port
		if i == 0 {
			p = port
		}
		f, got, err := m.Bind.Open(p)
		if err != nil {
			for _, opened := range b.members[:i] {
				opened.Bind.Close()
			}
			return nil, 0, fmt.Errorf("multi transport: open %s on port %d: %w", m.Bind.Scheme(), p, err)
		}
		if i == 0 {
			actual = got
		}
		fns = append(fns, f...)
	}
	return fns, actual, nil
}

// Close closes every member.
func (b *Bind) Close() error {
	var errs []error
	for _, m := range b.members {
		if err := m.Bind.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m.Bind.Scheme(), err))
		}
	}
	return errors.Join(errs...)
}

// SetMark sets the mark on every member.
func (b *Bind) SetMark(mark uint32) error {
	var errs []error
	for _, m := range b.members {
		if err := m.Bind.SetMark(mark); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m.Bind.Scheme(), err))
		}
	}
	return errors.Join(errs...)
}

// Send hands bufs to the member that made ep.
func (b *Bind) Send(bufs [][]byte, ep conn.Endpoint) error {
	owner := b.owner(ep)
	if owner == nil {
		return conn.ErrWrongEndpointType
	}
	return owner.Send(bufs, ep)
}

// ParseEndpoint gives s to the member its scheme names, or to the first
// member if it has none.
func (b *Bind) ParseEndpoint(s string) (conn.Endpoint, error) {
	scheme, _ := transport.SplitScheme(s)
	if scheme == "" {
		return b.members[0].Bind.ParseEndpoint(s)
	}
	for _, m := range b.members {
		if m.Bind.Scheme() == scheme {
			return m.Bind.ParseEndpoint(s)
		}
	}
	return nil, fmt.Errorf("endpoint %q: no %q transport here (have %s)", s, scheme, strings.Join(b.Schemes(), ", "))
}

// BatchSize returns the smallest of the members' batch sizes, so that no
// member is handed more buffers than it takes.
func (b *Bind) BatchSize() int {
	n := b.members[0].Bind.BatchSize()
	for _, m := range b.members[1:] {
		n = min(n, m.Bind.BatchSize())
	}
	return n
}
