package consoletest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"intransit/internal/console"
	"intransit/internal/status"
)

// Memory is an in-memory gateway behind console.Source and
// console.Actions, for tests of the console without a daemon: invitations
// are kept until enrolled, an enrolled laptop is connected until revoked,
// and a disconnected laptop reconnects at once, as its client would.
type Memory struct {
	groups []string
	base   status.Report

	mu      sync.Mutex
	last    time.Time                     // the last session start, so each is later
	invites map[string]console.Invitation // by token
	clients map[string]*memClient         // enrolled, by name
	reload  status.Reload
	next    netip.Addr // the next address to lease
}

// memClient is an enrolled laptop.
type memClient struct {
	group   string
	addr    netip.Addr
	revoked bool
	since   time.Time // of the current session; zero when not connected
}

// NewMemory returns a gateway serving groups, whose report is base with
// its point-to-site clients added (base.P2S must be set).
func NewMemory(base status.Report, groups ...string) *Memory {
	return &Memory{groups: groups, base: base, invites: map[string]console.Invitation{}, clients: map[string]*memClient{},
		next: netip.MustParseAddr("10.9.0.2")}
}

// Report implements console.Source: a deep copy each time.
func (m *Memory) Report() status.Report {
	m.mu.Lock()
	defer m.mu.Unlock()
	rep := clone(m.base)
	rep.Time = time.Now()
	rep.Gateway.LastReload = m.reload
	names := make([]string, 0, len(m.clients))
	for n, c := range m.clients {
		if !c.since.IsZero() {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	rep.P2S.Clients = []status.P2SClient{}
	for _, n := range names {
		c := m.clients[n]
		rep.P2S.Clients = append(rep.P2S.Clients, status.P2SClient{Name: n, Group: c.group, Since: c.since,
			Identity: "intransit://memory/client/" + n, Addresses: []string{c.addr.String()}, Routes: []string{"10.2.0.0/24"}})
	}
	return rep
}

// clone deeply copies r.
func clone(r status.Report) status.Report {
	b, err := json.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("consoletest: a status report does not marshal: %v", err))
	}
	var out status.Report
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("consoletest: a status report does not unmarshal: %v", err))
	}
	return out
}

// Reloaded records a reload at at, refused for why unless why is empty.
func (m *Memory) Reloaded(at time.Time, why string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reload = status.Reload{At: at, Refused: why}
}

// Invite implements console.Actions.
func (m *Memory) Invite(_ context.Context, name, group string, ttl time.Duration) (console.Invitation, error) {
	if !slices.Contains(m.groups, group) {
		return console.Invitation{}, fmt.Errorf("group %q is not configured (groups: %v)", group, m.groups)
	}
	if ttl <= 0 {
		return console.Invitation{}, fmt.Errorf("token lifetime %s: want more than 0", ttl)
	}
	tok := "itp1." + rand.Text()
	inv := console.Invitation{Token: tok, Link: "https://gateway.example:8445/#" + tok, Name: name, Group: group, Expires: time.Now().Add(ttl)}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.invites[tok] = inv
	return inv, nil
}

// Enroll uses the invitation's token, as a laptop enrolling with it does,
// and connects the laptop.
func (m *Memory) Enroll(tok string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	inv, ok := m.invites[tok]
	if !ok {
		return fmt.Errorf("unknown or used token")
	}
	delete(m.invites, tok)
	if time.Now().After(inv.Expires) {
		return fmt.Errorf("token for %q expired at %s", inv.Name, inv.Expires)
	}
	c := &memClient{group: inv.Group, addr: m.next}
	m.next = m.next.Next()
	m.clients[inv.Name] = c
	c.since = m.tick()
	return nil
}

// tick returns a session start later than every one before; m.mu held.
func (m *Memory) tick() time.Time {
	now := time.Now()
	if !now.After(m.last) {
		now = m.last.Add(time.Nanosecond)
	}
	m.last = now
	return now
}

// Revoke implements console.Actions.
func (m *Memory) Revoke(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.clients[name]
	if !ok || c.revoked {
		return fmt.Errorf("no valid client certificate is named %q", name)
	}
	c.revoked, c.since = true, time.Time{}
	return nil
}

// Disconnect implements console.Actions: the session ends and the laptop,
// still enrolled, starts a new one.
func (m *Memory) Disconnect(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.clients[name]
	if !ok || c.since.IsZero() {
		return fmt.Errorf("no session of a client called %q on this gateway", name)
	}
	c.since = m.tick()
	return nil
}
