package netnstests

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"intransit/internal/status"
	"intransit/netns-tests/netlab"
	"intransit/p2s/client"
)

// The path monitor (tunnel/transport.Monitor) under UDP blocks on the WAN
// router, mid-session, for a site-to-site tunnel and for a laptop: traffic
// is back over quic within 15 s, the status is not up during the outage,
// and once UDP passes again the tunnel is back on udp within 90 s. Idle
// tunnels never change transport and see no handshakes beyond WireGuard's
// own rekey.

// stateWatch polls a state in the background and remembers every value.
type stateWatch struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	seen []string
}

// watchStates polls get every 150 ms until the returned watch is ended;
// get returns "" when it could not read the state.
func watchStates(get func() string) *stateWatch {
	w := &stateWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(150 * time.Millisecond)
		defer t.Stop()
		for {
			if s := get(); s != "" {
				w.mu.Lock()
				if len(w.seen) == 0 || w.seen[len(w.seen)-1] != s {
					w.seen = append(w.seen, s)
				}
				w.mu.Unlock()
			}
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// end stops the polling and returns the states seen, in order, each
// change once.
func (w *stateWatch) end() []string {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen
}

// s2sPeerState reads a remote's state and data-plane detail without
// failing the test (it runs outside the test goroutine).
func s2sPeerState(g *gateway, name string) string {
	rep, err := g.tryStatus()
	if err != nil {
		return ""
	}
	for _, p := range rep.Peers {
		if p.Name == name {
			return p.State + "/" + p.Transport
		}
	}
	return ""
}

// onUDP: the remote is up on udp.
func onUDP(p status.Peer) bool { return p.State == status.StateUp && p.Transport == "udp" }

func TestS2SPathFailover(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, drop string }{
		{"both directions", ""},
		{"gw-a to gw-b", "ip saddr " + s2sWanA + " ip daddr " + s2sWanB + " udp dport 51820"},
		{"gw-b to gw-a", "ip saddr " + s2sWanB + " ip daddr " + s2sWanA + " udp dport 51820"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newS2SLab(t)
			a, b := l.start(t)
			a.waitPeer("site-b", 20*time.Second, "up on udp", onUDP)
			b.waitUp("site-a", 20*time.Second)
			mustPing(t, l.siteA, s2sHostB, 2)

			var rule *netlab.Rule
			if tc.drop == "" {
				rule = l.router.Block("udp", 51820)
			} else {
				rule = l.router.Drop(tc.drop)
			}
			blocked := time.Now()
			w := watchStates(func() string { return s2sPeerState(a, "site-b") })
			wb := watchStates(func() string { return s2sPeerState(b, "site-a") })
			_, ok := pingUntil(t, l.siteA, s2sHostB, 15*time.Second)
			back := time.Since(blocked)
			seen, seenB := w.end(), wb.end()
			if !ok {
				t.Fatalf("no traffic within 15 s of the UDP block (%s); gw-a's states %v\ngw-a:\n%s\ngw-b:\n%s", tc.name, seen, a.proc.Output(), b.proc.Output())
			}
			t.Logf("UDP blocked (%s): traffic back after %s; gw-a's states: %v; gw-b's: %v", tc.name, back.Round(100*time.Millisecond), seen, seenB)
			p := a.waitPeer("site-b", 5*time.Second, "up on quic", func(p status.Peer) bool { return p.State == status.StateUp && p.Transport == "quic" })
			t.Logf("gw-a on %s (%s)", p.Transport, p.Endpoint)
			if !containsState(seen, status.StateDegraded) {
				t.Errorf("gw-a's status never left up during the outage: %v", seen)
			}
			if !containsState(seenB, status.StateDegraded) {
				t.Errorf("gw-b's status never left up during the outage: %v", seenB)
			}

			rule.Remove()
			unblocked := time.Now()
			a.waitPeer("site-b", 90*time.Second, "back on udp", onUDP)
			t.Logf("UDP unblocked (%s): gw-a back on udp after %s", tc.name, time.Since(unblocked).Round(100*time.Millisecond))
			mustPing(t, l.siteA, s2sHostB, 2)
			a.stop()
			b.stop()
		})
	}
}

// containsState reports whether one of the "state/transport" values seen
// has the given state.
func containsState(seen []string, state string) bool {
	for _, s := range seen {
		if strings.HasPrefix(s, state+"/") {
			return true
		}
	}
	return false
}

// newConnectedLaptop starts a p2s lab with one laptop connected on udp.
func newConnectedLaptop(t testing.TB) (*p2sLab, *laptop) {
	t.Helper()
	l := newP2SLab(t)
	l.start()
	lp := l.addLaptop("alice")
	if out, err := lp.enroll(l.invite("alice", "1h")); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	lp.connect()
	lp.wait(20*time.Second, "connected on udp", laptopOnUDP)
	return l, lp
}

func laptopOnUDP(st *client.Status) bool { return connected(st) && st.Transport == "udp" }

// laptopState reads the client's state and transport.
func laptopState(lp *laptop) string {
	st := lp.status()
	if st == nil {
		return ""
	}
	return st.State + "/" + st.Transport
}

func TestP2SPathFailover(t *testing.T) {
	t.Parallel()
	const laptopWan = "198.51.101.2" // the first laptop of a lab
	for _, tc := range []struct{ name, drop string }{
		{"both directions", ""},
		{"laptop to gateway", "ip saddr " + laptopWan + " ip daddr " + p2sWan + " udp dport 51821"},
		{"gateway to laptop", "ip saddr " + p2sWan + " ip daddr " + laptopWan + " udp sport 51821"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, lp := newConnectedLaptop(t)
			if !lp.ping(p2sSiteHost) {
				t.Fatalf("the laptop does not reach the site before the block")
			}
			var rule *netlab.Rule
			if tc.drop == "" {
				rule = l.router.Block("udp", 51821)
			} else {
				rule = l.router.Drop(tc.drop)
			}
			blocked := time.Now()
			w := watchStates(func() string { return laptopState(lp) })
			_, ok := pingUntil(t, lp.host, p2sSiteHost, 15*time.Second)
			back := time.Since(blocked)
			seen := w.end()
			if !ok {
				t.Fatalf("no traffic within 15 s of the UDP block (%s); states %v\nclient:\n%s\ngateway:\n%s", tc.name, seen, lp.proc.Output(), l.gw.proc.Output())
			}
			t.Logf("UDP blocked (%s): traffic back after %s; laptop states: %v", tc.name, back.Round(100*time.Millisecond), seen)
			st := lp.wait(5*time.Second, "connected on quic", func(st *client.Status) bool { return connected(st) && st.Transport == "quic" })
			t.Logf("laptop on %s (%s)", st.Transport, st.Endpoint)
			if !containsState(seen, client.StateDegraded) {
				t.Errorf("the laptop's status never left connected during the outage: %v", seen)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			out, err := lp.host.Run(ctx, l.cli, "p2s", "status", "--dir", lp.dir)
			cancel()
			if err != nil {
				t.Errorf("p2s status on quic: %v\n%s", err, out)
			}

			rule.Remove()
			unblocked := time.Now()
			lp.wait(90*time.Second, "back on udp", laptopOnUDP)
			t.Logf("UDP unblocked (%s): laptop back on udp after %s", tc.name, time.Since(unblocked).Round(100*time.Millisecond))
			if !lp.ping(p2sSiteHost) {
				t.Errorf("the laptop does not reach the site after the unblock")
			}
		})
	}
}

// idleFor is how long the idle tests watch a tunnel.
const idleFor = 3 * time.Minute

// maxRekeys is the number of handshakes WireGuard's own rekey makes in
// idleFor: one every 2 minutes (REKEY_AFTER_TIME) while packets flow.
const maxRekeys = 2

// idleCount is what an idle test saw.
type idleCount struct {
	handshakes map[time.Time]bool
	newAt      []string // when a new handshake was first seen, since the start
	transports map[string]bool
	notUp      []string
}

// watchIdle polls read once a second for idleFor.
func watchIdle(read func() (hs time.Time, state, transport string, up bool)) idleCount {
	c := idleCount{handshakes: map[time.Time]bool{}, transports: map[string]bool{}}
	start := time.Now()
	end := start.Add(idleFor)
	for time.Now().Before(end) {
		hs, state, tr, up := read()
		if !c.handshakes[hs] && len(c.handshakes) > 0 {
			c.newAt = append(c.newAt, time.Since(start).Round(time.Second).String())
		}
		c.handshakes[hs] = true
		c.transports[tr] = true
		if !up {
			c.notUp = append(c.notUp, time.Now().Format(time.TimeOnly)+" "+state)
		}
		time.Sleep(time.Second)
	}
	return c
}

func TestS2SIdleStaysPut(t *testing.T) {
	t.Parallel()
	l := newS2SLab(t)
	a, b := l.start(t)
	first := a.waitPeer("site-b", 20*time.Second, "up on udp", onUDP)
	b.waitUp("site-a", 20*time.Second)
	logA, logB := len(a.proc.Output()), len(b.proc.Output())
	c := watchIdle(func() (time.Time, string, string, bool) {
		p := a.peer("site-b")
		return p.LastHandshake, p.State + " " + p.Detail, p.Transport, p.State == status.StateUp
	})
	changes := strings.Count(a.proc.Output()[logA:], "changing transport") + strings.Count(b.proc.Output()[logB:], "changing transport")
	rekeys := len(c.handshakes) - 1
	if !c.handshakes[first.LastHandshake] {
		rekeys = len(c.handshakes)
	}
	t.Logf("idle s2s tunnel for %s: %d transport changes logged, transports seen %v, %d handshakes after the first (new ones seen at %v), %d polls not up",
		idleFor, changes, keys(c.transports), rekeys, c.newAt, len(c.notUp))
	if changes != 0 || len(c.transports) != 1 || !c.transports["udp"] {
		t.Errorf("the idle tunnel changed transport: %d changes logged, transports %v", changes, keys(c.transports))
	}
	if rekeys > maxRekeys {
		t.Errorf("%d handshakes in %s of idling; WireGuard's own rekey makes at most %d", rekeys, idleFor, maxRekeys)
	}
	if len(c.notUp) > 0 {
		t.Errorf("the idle tunnel was not up at: %v", c.notUp)
	}
	a.stop()
	b.stop()
}

func TestP2SIdleStaysPut(t *testing.T) {
	t.Parallel()
	_, lp := newConnectedLaptop(t)
	first := lp.status()
	logStart := len(lp.proc.Output())
	c := watchIdle(func() (time.Time, string, string, bool) {
		st := lp.status()
		if st == nil {
			return time.Time{}, "no status", "", false
		}
		return st.LastHandshake, st.State + " " + st.Detail, st.Transport, st.State == client.StateConnected
	})
	changes := strings.Count(lp.proc.Output()[logStart:], "changing transport")
	rekeys := len(c.handshakes) - 1
	if first == nil || !c.handshakes[first.LastHandshake] {
		rekeys = len(c.handshakes)
	}
	t.Logf("idle laptop for %s: %d transport changes logged, transports seen %v, %d handshakes after the first (new ones seen at %v), %d polls not connected",
		idleFor, changes, keys(c.transports), rekeys, c.newAt, len(c.notUp))
	if changes != 0 || len(c.transports) != 1 || !c.transports["udp"] {
		t.Errorf("the idle laptop changed transport: %d changes logged, transports %v", changes, keys(c.transports))
	}
	if rekeys > maxRekeys {
		t.Errorf("%d handshakes in %s of idling; WireGuard's own rekey makes at most %d", rekeys, idleFor, maxRekeys)
	}
	if len(c.notUp) > 0 {
		t.Errorf("the idle laptop was not connected at: %v", c.notUp)
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
