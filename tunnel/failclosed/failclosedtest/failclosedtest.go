// Package failclosedtest holds the contract suite every failclosed.Kernel
// passes, and Memory, a Kernel in memory for logic tests without root.
package failclosedtest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"intransit/tunnel/failclosed"
)

// Run checks k against the failclosed.Kernel contract with tables named
// after ifaceA and ifaceB, which must be free; it removes them at the end.
func Run(t *testing.T, k failclosed.Kernel, ifaceA, ifaceB string) {
	t.Helper()
	ctx := context.Background()
	ta, tb := failclosed.TableName(ifaceA), failclosed.TableName(ifaceB)
	t.Cleanup(func() {
		_, _ = k.Remove(context.Background(), ta)
		_, _ = k.Remove(context.Background(), tb)
	})
	installed := func(table string, want bool, when string) {
		t.Helper()
		got, err := k.Installed(ctx, table)
		if err != nil {
			t.Fatalf("%s: Installed(%s): %v", when, table, err)
		}
		if got != want {
			t.Fatalf("%s: Installed(%s) = %v, want %v", when, table, got, want)
		}
	}
	installed(ta, false, "before anything")
	if ok, err := k.Remove(ctx, ta); err != nil || ok {
		t.Fatalf("Remove of a table that is not there = %v, %v; want false, nil", ok, err)
	}
	site := failclosed.Policy{Interface: ifaceA, Guards: []failclosed.Guard{
		{Name: "site-b", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24"), netip.MustParsePrefix("fd02::/64")}},
		{Name: "site-c", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.3.0.0/16"), netip.MustParsePrefix("10.3.1.0/24")}},
	}}
	if err := k.Install(ctx, site); err != nil {
		t.Fatalf("Install: %v", err)
	}
	installed(ta, true, "after Install")
	counts, err := k.Rejected(ctx, ta)
	if err != nil {
		t.Fatalf("Rejected: %v", err)
	}
	for _, name := range []string{"site-b", "site-c"} {
		if n, ok := counts[name]; !ok || n != 0 {
			t.Errorf("Rejected of a fresh table: %s = %d, %v; want 0, true (%v)", name, n, ok, counts)
		}
	}
	bad := site
	bad.Guards = []failclosed.Guard{{Name: `quote"d`, Prefixes: site.Guards[0].Prefixes}}
	if err := k.Install(ctx, bad); err == nil {
		t.Fatal("Install of an invalid policy succeeded")
	}
	installed(ta, true, "after a refused Install")
	lock := failclosed.Policy{Interface: ifaceA, Lockdown: true, Exempt: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}}
	if err := k.Install(ctx, lock); err != nil {
		t.Fatalf("Install replacing a table: %v", err)
	}
	installed(ta, true, "after a replacing Install")
	if counts, err := k.Rejected(ctx, ta); err != nil || len(counts) < 1 {
		t.Fatalf("Rejected of a lockdown = %v, %v", counts, err)
	} else if _, ok := counts[failclosed.LockdownName]; !ok {
		t.Errorf("Rejected of a lockdown has no %s entry: %v", failclosed.LockdownName, counts)
	}
	other := failclosed.Policy{Interface: ifaceB, Guards: []failclosed.Guard{{Name: "split tunnel", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")}}}}
	if err := k.Install(ctx, other); err != nil {
		t.Fatalf("Install of a second interface: %v", err)
	}
	if ok, err := k.Remove(ctx, ta); err != nil || !ok {
		t.Fatalf("Remove = %v, %v; want true, nil", ok, err)
	}
	installed(ta, false, "after Remove")
	if _, err := k.Rejected(ctx, ta); !errors.Is(err, failclosed.ErrNoTable) {
		t.Errorf("Rejected of a removed table: %v, want ErrNoTable", err)
	}
	installed(tb, true, "after removing another interface's table")
	if ok, err := k.Remove(ctx, ta); err != nil || ok {
		t.Fatalf("second Remove = %v, %v; want false, nil", ok, err)
	}
}

// Memory is a Kernel in memory. Its tables outlive a Wall (not a process):
// a test makes a new Wall on the same Memory to play a restart. Failing,
// when set, makes every call fail with it.
type Memory struct {
	mu      sync.Mutex
	tables  map[string]failclosed.Policy
	Failing error
}

// Install records the policy.
func (m *Memory) Install(_ context.Context, p failclosed.Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Failing != nil {
		return m.Failing
	}
	if m.tables == nil {
		m.tables = map[string]failclosed.Policy{}
	}
	m.tables[failclosed.TableName(p.Interface)] = p
	return nil
}

// Remove forgets the table.
func (m *Memory) Remove(_ context.Context, table string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Failing != nil {
		return false, m.Failing
	}
	_, ok := m.tables[table]
	delete(m.tables, table)
	return ok, nil
}

// Installed reports whether the table is recorded.
func (m *Memory) Installed(_ context.Context, table string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Failing != nil {
		return false, m.Failing
	}
	_, ok := m.tables[table]
	return ok, nil
}

// Rejected counts nothing (no packets pass through memory): zero for each
// guard of the recorded policy.
func (m *Memory) Rejected(_ context.Context, table string) (map[string]uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Failing != nil {
		return nil, m.Failing
	}
	p, ok := m.tables[table]
	if !ok {
		return nil, fmt.Errorf("%w: %s", failclosed.ErrNoTable, table)
	}
	counts := map[string]uint64{}
	for _, g := range p.Guards {
		if len(g.Prefixes) > 0 {
			counts[g.Name] = 0
		}
	}
	if p.Lockdown {
		counts[failclosed.LockdownName] = 0
	}
	return counts, nil
}

// Table returns the policy recorded for a table.
func (m *Memory) Table(table string) (failclosed.Policy, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.tables[table]
	return p, ok
}
