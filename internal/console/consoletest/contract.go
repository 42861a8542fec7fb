// Package consoletest is the contract test of the console's two seams,
// console.Source and console.Actions, for any implementation: the daemon's
// (through its console, by HTTPActions) in the netns tests, and Memory, an
// in-memory one, in the unit tests.
package consoletest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"intransit/internal/console"
	"intransit/internal/status"
)

// Fixture is an implementation under test and what the suite needs to
// drive it.
type Fixture struct {
	// Source and Actions are the implementation under test. The suite
	// expects no reload to have happened yet.
	Source  console.Source
	Actions console.Actions
	// Group is a point-to-site group an invitation may name.
	Group string
	// Connect enrolls a laptop with inv (made by Actions.Invite) and has
	// it connect; it returns once the laptop says it is connected.
	Connect func(t *testing.T, inv console.Invitation)
	// Within is how long the effect of an action may take to show in the
	// report (a session cut, a reconnect); zero for at once.
	Within time.Duration
}

// Run checks the contracts of console.Source and console.Actions on fx.
// The names of the clients and groups it makes up start with prefix, so
// that they differ from any the implementation already has.
func Run(t *testing.T, fx Fixture, prefix string) {
	t.Helper()
	var errs []error
	var tokens []string
	keep := func(err error) error {
		if err != nil {
			errs = append(errs, err)
		}
		return err
	}
	ctx := context.Background()

	CheckReport(t, fx.Source)
	if r := fx.Source.Report().Gateway.LastReload; !r.At.IsZero() || r.Refused != "" {
		t.Errorf("before any reload the report's last reload is %+v, want zero", r)
	}

	unknown := prefix + "nobody"
	if err := keep(fx.Actions.Revoke(ctx, unknown)); err == nil || !strings.Contains(err.Error(), unknown) {
		t.Errorf("Revoke(%q) of an unknown name: %v, want an error naming it", unknown, err)
	}
	if err := keep(fx.Actions.Disconnect(ctx, unknown)); err == nil || !strings.Contains(err.Error(), unknown) {
		t.Errorf("Disconnect(%q) of an unknown name: %v, want an error naming it", unknown, err)
	}
	if _, err := fx.Actions.Invite(ctx, prefix+"x", prefix+"no-such-group", time.Hour); keep(err) == nil || !strings.Contains(err.Error(), prefix+"no-such-group") {
		t.Errorf("Invite in an unknown group: %v, want an error naming the group", err)
	}

	name := prefix + "laptop"
	inv := CheckInvite(t, fx.Actions, name, fx.Group, time.Hour)
	tokens = append(tokens, inv.Token)
	fx.Connect(t, inv)
	first := waitFor(t, fx, name, "the laptop connected", func(c status.P2SClient, ok bool) bool { return ok })

	// Disconnect ends the session and nothing else: the laptop comes back
	// by itself with the same addresses.
	start := time.Now()
	if err := keep(fx.Actions.Disconnect(ctx, name)); err != nil {
		t.Fatalf("Disconnect(%q): %v", name, err)
	}
	again := waitFor(t, fx, name, "the laptop back in a new session after Disconnect", func(c status.P2SClient, ok bool) bool {
		return ok && c.Since.After(first.Since)
	})
	if strings.Join(again.Addresses, ",") != strings.Join(first.Addresses, ",") {
		t.Errorf("after Disconnect the laptop came back with %v, had %v", again.Addresses, first.Addresses)
	}
	t.Logf("consoletest: after Disconnect the laptop was back in a new session in %s", time.Since(start).Round(10*time.Millisecond))

	// Revoke cuts it for good: gone from the report, and nothing is left
	// to revoke.
	start = time.Now()
	if err := keep(fx.Actions.Revoke(ctx, name)); err != nil {
		t.Fatalf("Revoke(%q): %v", name, err)
	}
	waitFor(t, fx, name, "the laptop gone after Revoke", func(_ status.P2SClient, ok bool) bool { return !ok })
	t.Logf("consoletest: Revoke cut the laptop in %s", time.Since(start).Round(10*time.Millisecond))
	if err := keep(fx.Actions.Revoke(ctx, name)); err == nil || !strings.Contains(err.Error(), name) {
		t.Errorf("Revoke(%q) a second time: %v, want an error naming it", name, err)
	}
	if err := keep(fx.Actions.Disconnect(ctx, name)); err == nil || !strings.Contains(err.Error(), name) {
		t.Errorf("Disconnect(%q) after its revocation: %v, want an error naming it", name, err)
	}
	CheckNoSecret(t, errs, tokens)
}

// CheckReport checks that concurrent Report calls return reports that
// their callers own: a caller scribbling over every slice of its report
// changes no other report, before or after.
func CheckReport(t *testing.T, src console.Source) {
	t.Helper()
	const n = 8
	reps := make([]status.Report, n)
	var wg sync.WaitGroup
	for i := range reps {
		wg.Add(1)
		go func() { defer wg.Done(); reps[i] = src.Report() }()
	}
	wg.Wait()
	for i := range reps {
		wg.Add(1)
		go func() { defer wg.Done(); scribble(&reps[i], i) }()
	}
	wg.Wait()
	for i, r := range append(reps, src.Report()) {
		if w := scribbled(&r); w >= 0 && w != i {
			t.Fatalf("report %d carries what the caller of report %d wrote into its own: Report shares memory between calls", i, w)
		}
	}
}

// mark is what scribble writes, followed by the report's number.
const mark = "\x00scribbled-by-"

// scribble writes a mark of report i into every element of every slice
// and every pointed-to value of r.
func scribble(r *status.Report, i int) {
	m := mark + string(rune('a'+i))
	for j := range r.Peers {
		r.Peers[j].Name = m
		for k := range r.Peers[j].Routes {
			r.Peers[j].Routes[k] = m
		}
	}
	for j := range r.Refusals {
		r.Refusals[j].Detail = m
	}
	for j := range r.Blocks {
		r.Blocks[j].Reason = m
	}
	for j := range r.Gateway.Transports {
		r.Gateway.Transports[j] = m
	}
	for j := range r.Gateway.SitePrefixes {
		r.Gateway.SitePrefixes[j] = m
	}
	if p := r.P2S; p != nil {
		p.Interface = m
		for j := range p.Transports {
			p.Transports[j] = m
		}
		for j := range p.Pools {
			p.Pools[j] = m
		}
		for _, cs := range [][]status.P2SClient{p.Clients, p.Statics} {
			for j := range cs {
				cs[j].Name = m
				for k := range cs[j].Addresses {
					cs[j].Addresses[k] = m
				}
				for k := range cs[j].Routes {
					cs[j].Routes[k] = m
				}
			}
		}
		for j := range p.Refusals {
			p.Refusals[j].Detail = m
		}
	}
}

// scribbled returns the number of the report whose mark r carries, or -1.
func scribbled(r *status.Report) int {
	found := -1
	see := func(s string) {
		if rest, ok := strings.CutPrefix(s, mark); ok && len(rest) == 1 {
			found = int(rest[0] - 'a')
		}
	}
	for _, p := range r.Peers {
		see(p.Name)
		for _, s := range p.Routes {
			see(s)
		}
	}
	for _, f := range r.Refusals {
		see(f.Detail)
	}
	for _, b := range r.Blocks {
		see(b.Reason)
	}
	for _, s := range append(append([]string{}, r.Gateway.Transports...), r.Gateway.SitePrefixes...) {
		see(s)
	}
	if p := r.P2S; p != nil {
		see(p.Interface)
		for _, s := range append(append([]string{}, p.Transports...), p.Pools...) {
			see(s)
		}
		for _, c := range append(append([]status.P2SClient{}, p.Clients...), p.Statics...) {
			see(c.Name)
			for _, s := range append(append([]string{}, c.Addresses...), c.Routes...) {
				see(s)
			}
		}
		for _, f := range p.Refusals {
			see(f.Detail)
		}
	}
	return found
}

// CheckInvite invites name into group for ttl and checks the invitation:
// a token, a link that carries it, the name and group asked, an expiry in
// the future and no later than ttl from now.
func CheckInvite(t *testing.T, acts console.Actions, name, group string, ttl time.Duration) console.Invitation {
	t.Helper()
	before := time.Now()
	inv, err := acts.Invite(context.Background(), name, group, ttl)
	if err != nil {
		t.Fatalf("Invite(%q, %q, %s): %v", name, group, ttl, err)
	}
	if inv.Token == "" {
		t.Fatalf("Invite(%q): no token", name)
	}
	if !strings.Contains(inv.Link, inv.Token) {
		t.Errorf("Invite(%q): the link %q does not carry the token", name, inv.Link)
	}
	if inv.Name != name || inv.Group != group {
		t.Errorf("Invite(%q, %q): an invitation for %q in %q", name, group, inv.Name, inv.Group)
	}
	// The console shows the expiry to the second.
	if !inv.Expires.After(before) || inv.Expires.After(time.Now().Add(ttl+time.Second)) {
		t.Errorf("Invite(%q, %s) at %s: expires %s, want in the future and within %s", name, ttl, before.UTC(), inv.Expires.UTC(), ttl)
	}
	return inv
}

// CheckNoSecret checks that no error carries a token or a private key.
func CheckNoSecret(t *testing.T, errs []error, tokens []string) {
	t.Helper()
	for _, err := range errs {
		msg := err.Error()
		if strings.Contains(msg, "PRIVATE KEY") {
			t.Errorf("an error carries a private key: %q", msg)
		}
		for _, tok := range tokens {
			if strings.Contains(msg, tok) {
				t.Errorf("an error carries an invitation's token: %q", msg)
			}
		}
	}
}

// waitFor waits up to fx.Within for the row of the client called name
// (ok when listed) to satisfy cond and returns it.
func waitFor(t *testing.T, fx Fixture, name, what string, cond func(c status.P2SClient, ok bool) bool) status.P2SClient {
	t.Helper()
	deadline := time.Now().Add(fx.Within)
	for {
		c, ok := clientRow(fx.Source.Report(), name)
		if cond(c, ok) {
			return c
		}
		if !time.Now().Before(deadline) {
			t.Fatalf("%s: not within %s (row %+v, listed %v)", what, fx.Within, c, ok)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// clientRow returns the row of the connected client called name.
func clientRow(r status.Report, name string) (status.P2SClient, bool) {
	if r.P2S == nil {
		return status.P2SClient{}, false
	}
	for _, c := range r.P2S.Clients {
		if c.Name == name {
			return c, true
		}
	}
	return status.P2SClient{}, false
}
