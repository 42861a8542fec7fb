package control

import (
	"context"
	"crypto/tls"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// pingConn counts the pings written through it and the rotate-acks it
// let through (the frames a session writes, before TLS encrypts them), and
// can drop everything written.
type pingConn struct {
	*tls.Conn
	pings atomic.Int64
	acks  atomic.Int64
	muted atomic.Bool
}

func (c *pingConn) Write(p []byte) (int, error) {
	typ := Type(0)
	if len(p) > 1 {
		typ = Type(p[1])
	}
	if typ == TypePing {
		c.pings.Add(1)
	}
	if c.muted.Load() {
		return len(p), nil
	}
	n, err := c.Conn.Write(p)
	if typ == TypeRotateAck && err == nil {
		c.acks.Add(1)
	}
	return n, err
}

// liveness is a data plane a test turns on and off: while on, the peer was
// heard from just now.
type liveness struct{ on atomic.Bool }

func (l *liveness) heard() time.Time {
	if l.on.Load() {
		return time.Now()
	}
	return time.Time{}
}

// livenessPair runs an initiator and a responder over conns with the given
// liveness sources (nil: none), a KeepaliveInterval of 20 ms and
// deadAfter, and waits for the first PSK.
func livenessPair(t *testing.T, ctx context.Context, deadAfter time.Duration, la, lb *liveness) (a, b *pingConn, doneA, doneB <-chan error) {
	t.Helper()
	p := newPKI(t)
	cc, sc := p.tlsPair(t)
	handshakeBoth(t, cc, sc)
	a, b = &pingConn{Conn: cc}, &pingConn{Conn: sc}
	insA, insB := newInstalls(), newInstalls()
	cfgA := Config{
		Role: Initiator, Kind: KindGateway, WireGuardKey: wgKey(t), Signer: p.client.Key,
		Admit:      func(context.Context, *Peer) (*Admission, error) { return &Admission{}, nil },
		InstallPSK: insA.install, RotationPeriod: time.Hour, KeepaliveInterval: 20 * time.Millisecond, DeadAfter: deadAfter,
	}
	cfgB := cfgA
	cfgB.Role, cfgB.WireGuardKey, cfgB.Signer, cfgB.InstallPSK = Responder, wgKey(t), p.server.Key, insB.install
	if la != nil {
		cfgA.Liveness = la.heard
	}
	if lb != nil {
		cfgB.Liveness = lb.heard
	}
	_, doneA = runSession(ctx, t, a, cfgA)
	_, doneB = runSession(ctx, t, b, cfgB)
	insA.waitEpoch(t, ctx, 1)
	insB.waitEpoch(t, ctx, 1)
	// The responder installs before it writes its ack: wait for the ack
	// too, so that a test muting b next does not cut the first rotation.
	for b.acks.Load() == 0 {
		if ctx.Err() != nil {
			t.Fatal("the responder never acknowledged the first rotation")
		}
		time.Sleep(time.Millisecond)
	}
	return a, b, doneA, doneB
}

// waitPings waits until c wrote a ping.
func waitPings(t *testing.T, ctx context.Context, c *pingConn, who string) {
	t.Helper()
	for c.pings.Load() == 0 {
		if ctx.Err() != nil {
			t.Fatalf("%s never pinged", who)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDataPlaneLivenessStandsInForPings: while the data plane reports the
// peer, neither end pings; once it goes quiet the initiator pings again.
func TestDataPlaneLivenessStandsInForPings(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	la, lb := &liveness{}, &liveness{}
	la.on.Store(true)
	lb.on.Store(true)
	a, b, _, _ := livenessPair(t, ctx, 5*time.Second, la, lb)
	time.Sleep(25 * 20 * time.Millisecond)
	if n, m := a.pings.Load(), b.pings.Load(); n != 0 || m != 0 {
		t.Errorf("pings over 25 keepalive intervals with a live data plane: initiator %d, responder %d, want none", n, m)
	}
	la.on.Store(false)
	waitPings(t, ctx, a, "the initiator, its data plane quiet,")
}

// TestResponderLeavesPingsToInitiator: without a data plane, the
// initiator's pings and their answers keep both ends hearing each other;
// the responder does not ping as well.
func TestResponderLeavesPingsToInitiator(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, b, _, _ := livenessPair(t, ctx, 5*time.Second, nil, nil)
	time.Sleep(25 * 20 * time.Millisecond)
	waitPings(t, ctx, a, "the initiator")
	t.Logf("pings over 25 keepalive intervals: initiator %d, responder %d", a.pings.Load(), b.pings.Load())
	if n := b.pings.Load(); n != 0 {
		t.Errorf("the responder pinged %d times while the initiator pinged", n)
	}
}

// TestDeadControlChannelUnderLiveDataPlane: a control channel that stops
// answering ends the session although the data plane is heard: the end
// checks it with a ping once it carried nothing for DeadAfter.
func TestDeadControlChannelUnderLiveDataPlane(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const deadAfter = 300 * time.Millisecond
	la, lb := &liveness{}, &liveness{}
	la.on.Store(true)
	lb.on.Store(true)
	_, b, doneA, _ := livenessPair(t, ctx, deadAfter, la, lb)
	muted := time.Now()
	b.muted.Store(true)
	err := waitErr(t, doneA)
	if !errors.Is(err, ErrDeadPeer) {
		t.Fatalf("got %v, want ErrDeadPeer", err)
	}
	wantSessionError(t, err, ReasonTimeout, false, false, "ping unanswered on the control channel")
	t.Logf("control channel declared dead %s after it went mute, the data plane live (limit %s)", time.Since(muted).Round(time.Millisecond), deadAfter)
}

// TestDeadWhenBothChannelsSilent: once the data plane goes quiet too, the
// peer is dead after DeadAfter of silence on both.
func TestDeadWhenBothChannelsSilent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const deadAfter = 300 * time.Millisecond
	la, lb := &liveness{}, &liveness{}
	la.on.Store(true)
	lb.on.Store(true)
	_, b, doneA, _ := livenessPair(t, ctx, deadAfter, la, lb)
	b.muted.Store(true)
	la.on.Store(false)
	err := waitErr(t, doneA)
	if !errors.Is(err, ErrDeadPeer) {
		t.Fatalf("got %v, want ErrDeadPeer", err)
	}
	wantSessionError(t, err, ReasonTimeout, false, false, "nothing heard")
}
