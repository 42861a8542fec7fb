package control

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"intransit/internal/testutil/certs"
	"intransit/tlspolicy"
	"intransit/tunnel/pqpsk"
)

// pki is a CA with one leaf per test peer.
type pki struct {
	ca     *certs.CA
	server *certs.Leaf
	client *certs.Leaf
}

func newPKI(t testing.TB) *pki {
	ca := certs.NewCA(t, "control test CA")
	return &pki{
		ca:     ca,
		server: ca.Issue(certs.LeafOptions{CommonName: "gw-b", DNSNames: []string{"gw-b.test"}, URIs: []string{"intransit://site/b"}}),
		client: ca.Issue(certs.LeafOptions{CommonName: "gw-a", URIs: []string{"intransit://site/a"}, Key: certs.Ed25519}),
	}
}

// tlsPair dials a real TLS 1.3 mTLS connection over loopback TCP, with the
// control-channel configs of tlspolicy (pq profile), and returns the client
// and server ends before their handshake (the sessions run it).
func (p *pki) tlsPair(t testing.TB) (client, server *tls.Conn) {
	t.Helper()
	return p.tlsPairWith(t, p.ca, p.client)
}

// configs builds the control-channel TLS configs of both ends; the client
// presents clientLeaf and trusts serverCA.
func (p *pki) configs(t testing.TB, serverCA *certs.CA, clientLeaf *certs.Leaf) (srvCfg, cliCfg *tls.Config) {
	t.Helper()
	var err error
	srvCfg, err = tlspolicy.ControlServerConfig(tlspolicy.Options{
		Certificate: &tlspolicy.StaticCertificate{Cert: p.server.TLS()},
		CAs:         &tlspolicy.StaticCAs{Set: tlspolicy.NewCASet(p.ca.Cert)},
	})
	if err != nil {
		t.Fatal(err)
	}
	cliCfg, err = tlspolicy.ControlClientConfig(tlspolicy.Options{
		Certificate: &tlspolicy.StaticCertificate{Cert: clientLeaf.TLS()},
		CAs:         &tlspolicy.StaticCAs{Set: tlspolicy.NewCASet(serverCA.Cert)},
		ServerName:  "gw-b.test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return srvCfg, cliCfg
}

// tlsPairWith lets the client present clientLeaf and trust serverCA.
func (p *pki) tlsPairWith(t testing.TB, serverCA *certs.CA, clientLeaf *certs.Leaf) (client, server *tls.Conn) {
	t.Helper()
	srvCfg, cliCfg := p.configs(t, serverCA, clientLeaf)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sraw, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	server = tls.Server(sraw, srvCfg)
	client = tls.Client(raw, cliCfg)
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func wgKey(t testing.TB) [32]byte {
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		t.Fatal(err)
	}
	return k
}

// installs records the PSKs a session installs.
type installs struct {
	mu     sync.Mutex
	psks   map[uint64]pqpsk.PSK
	peer   *Peer
	latest chan uint64
}

func newInstalls() *installs {
	return &installs{psks: map[uint64]pqpsk.PSK{}, latest: make(chan uint64, 1000)}
}

func (in *installs) install(_ context.Context, p *Peer, epoch uint64, psk pqpsk.PSK) error {
	in.mu.Lock()
	if _, dup := in.psks[epoch]; dup {
		in.mu.Unlock()
		return errors.New("epoch installed twice")
	}
	in.psks[epoch] = psk
	in.peer = p
	in.mu.Unlock()
	in.latest <- epoch
	return nil
}

func (in *installs) waitEpoch(t testing.TB, ctx context.Context, epoch uint64) {
	t.Helper()
	for {
		select {
		case e := <-in.latest:
			if e >= epoch {
				return
			}
		case <-ctx.Done():
			t.Fatalf("epoch %d not installed: %v", epoch, ctx.Err())
		}
	}
}

func (in *installs) get(epoch uint64) (pqpsk.PSK, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	psk, ok := in.psks[epoch]
	return psk, ok
}

func runSession(ctx context.Context, t testing.TB, conn Conn, cfg Config) (*Session, <-chan error) {
	t.Helper()
	s, err := New(conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return s, done
}

func waitErr(t testing.TB, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("session did not end")
	}
	return nil
}

func wantSessionError(t *testing.T, err error, reason Reason, remote, closed bool, detail string) *SessionError {
	t.Helper()
	var se *SessionError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *SessionError", err, err)
	}
	if se.Reason != reason || se.Remote != remote || se.Closed != closed || !strings.Contains(se.Detail+se.Error(), detail) {
		t.Fatalf("got %+v (%v), want reason %s remote=%v closed=%v detail %q", se, se, reason, remote, closed, detail)
	}
	return se
}

func TestSiteToSiteAgreesAcrossRotations(t *testing.T) {
	p := newPKI(t)
	cc, sc := p.tlsPair(t)
	ctxA, cancelA := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelA()
	ctxB, cancelB := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelB()
	keyA, keyB := wgKey(t), wgKey(t)
	insA, insB := newInstalls(), newInstalls()
	var admittedByB atomic.Pointer[Peer]
	var logA bytes.Buffer
	reg := prometheus.NewRegistry()
	metrics, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfgA := Config{
		Role: Initiator, Kind: KindGateway, WireGuardKey: keyA, Signer: p.client.Key,
		Prefixes:   pfxs("10.1.0.0/16"),
		Transports: []Transport{{Name: "udp", Endpoint: netip.MustParseAddrPort("192.0.2.1:51820")}},
		Admit: func(_ context.Context, peer *Peer) (*Admission, error) {
			if peer.Identity != "intransit://site/b" {
				return nil, Refuse(ReasonIdentity, "unexpected peer %s", peer.Identity)
			}
			return &Admission{AllowedPrefixes: pfxs("10.2.0.0/16")}, nil
		},
		InstallPSK:     insA.install,
		Logger:         slog.New(slog.NewTextHandler(&logA, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:        metrics,
		RotationPeriod: 40 * time.Millisecond, KeepaliveInterval: 20 * time.Millisecond, DeadAfter: 5 * time.Second,
	}
	cfgB := Config{
		Role: Responder, Kind: KindGateway, WireGuardKey: keyB, Signer: p.server.Key,
		Prefixes: pfxs("10.2.0.0/16", "10.20.0.0/16"),
		Transports: []Transport{
			{Name: "udp", Endpoint: netip.MustParseAddrPort("198.51.100.2:51820")},
			{Name: "tls", Endpoint: netip.MustParseAddrPort("198.51.100.2:443")},
		},
		Admit: func(_ context.Context, peer *Peer) (*Admission, error) {
			admittedByB.Store(peer)
			return &Admission{AllowedPrefixes: pfxs("10.1.0.0/16")}, nil
		},
		InstallPSK:        insB.install,
		Metrics:           metrics,
		KeepaliveInterval: 20 * time.Millisecond, DeadAfter: 5 * time.Second,
	}
	sA, doneA := runSession(ctxA, t, cc, cfgA)
	sB, doneB := runSession(ctxB, t, sc, cfgB)

	const epochs = 4
	// Waiting for one epoch more makes sure the status of both sessions,
	// recorded after each install, shows at least epochs.
	insA.waitEpoch(t, ctxA, epochs+1)
	insB.waitEpoch(t, ctxB, epochs+1)
	seen := map[pqpsk.PSK]uint64{}
	for e := uint64(1); e <= epochs; e++ {
		a, okA := insA.get(e)
		b, okB := insB.get(e)
		if !okA || !okB {
			t.Fatalf("epoch %d: installed on A %v, on B %v", e, okA, okB)
		}
		if a != b {
			t.Fatalf("epoch %d: A installed %s, B installed %s", e, a, b)
		}
		if prev, dup := seen[a]; dup {
			t.Fatalf("epoch %d reuses the PSK of epoch %d", e, prev)
		}
		seen[a] = e
	}

	// What each end learned about the other.
	insA.mu.Lock()
	peerB := insA.peer
	insA.mu.Unlock()
	if peerB.WireGuardKey != keyB || peerB.Kind != KindGateway || peerB.Identity != "intransit://site/b" {
		t.Errorf("A sees B as %+v", peerB)
	}
	if !reflect.DeepEqual(peerB.Routes.Accepted, pfxs("10.2.0.0/16")) || len(peerB.Routes.Refused) != 1 || peerB.Routes.Refused[0].Prefix != netip.MustParsePrefix("10.20.0.0/16") {
		t.Errorf("A routes toward B: %+v", peerB.Routes)
	}
	if !reflect.DeepEqual(peerB.Transports, cfgB.Transports) || !reflect.DeepEqual(peerB.Offered, cfgB.Prefixes) {
		t.Errorf("A sees B's transports %v and prefixes %v", peerB.Transports, peerB.Offered)
	}
	peerA := admittedByB.Load()
	if peerA.WireGuardKey != keyA || peerA.Identity != "intransit://site/a" || !reflect.DeepEqual(peerA.Routes.Accepted, pfxs("10.1.0.0/16")) {
		t.Errorf("B sees A as %+v", peerA)
	}
	if peerA.Certificate == nil || !bytes.Equal(peerA.Certificate.Raw, p.client.Cert.Raw) {
		t.Error("B's peer certificate is not A's")
	}

	stA, stB := sA.Status(), sB.Status()
	if stA.Epoch < epochs || stB.Epoch < epochs || stA.LastHeard.IsZero() || stA.PSKInstalled.IsZero() {
		t.Errorf("status A %+v, B %+v", stA, stB)
	}
	if psk, _ := insA.get(stA.Epoch); stA.PSKID != psk.ID() {
		t.Errorf("status PSK id %s, installed %s", stA.PSKID, psk.ID())
	}
	if err := sB.Rotate(); err == nil {
		t.Error("a responder accepted Rotate")
	}

	// A shuts down: B learns it in order.
	cancelA()
	if err := waitErr(t, doneA); !errors.Is(err, context.Canceled) {
		t.Fatalf("A ended with %v", err)
	}
	wantSessionError(t, waitErr(t, doneB), ReasonShutdown, true, true, "shutting down")

	// Metrics: both sessions established, rotated and ended as they did.
	for _, c := range []struct {
		got  float64
		what string
		min  float64
	}{
		{metricValue(t, reg, "intransit_control_sessions_established_total", "role=initiator"), "initiator established", 1},
		{metricValue(t, reg, "intransit_control_sessions_established_total", "role=responder"), "responder established", 1},
		{metricValue(t, reg, "intransit_control_psk_rotations_total", "role=initiator"), "initiator rotations", epochs},
		{metricValue(t, reg, "intransit_control_psk_rotations_total", "role=responder"), "responder rotations", epochs},
		{metricValue(t, reg, "intransit_control_sessions_ended_total", "by=local,reason=context,role=initiator"), "initiator ended by context", 1},
		{metricValue(t, reg, "intransit_control_sessions_ended_total", "by=peer,reason=shutdown,role=responder"), "responder ended by the peer's shutdown", 1},
		{metricValue(t, reg, "intransit_control_psk_rotation_seconds", ""), "rotations timed", epochs - 1},
	} {
		if c.got < c.min {
			t.Errorf("metric %s = %v, want >= %v", c.what, c.got, c.min)
		}
	}

	// The log names PSKs by fingerprint only.
	logs := logA.String()
	first, _ := insA.get(1)
	if !strings.Contains(logs, "PSK installed") || !strings.Contains(logs, first.ID()) || !strings.Contains(logs, "peer=intransit://site/b") {
		t.Errorf("log lacks the installs:\n%s", logs)
	}
	for e := uint64(1); ; e++ {
		psk, ok := insA.get(e)
		if !ok {
			break
		}
		if strings.Contains(logs, psk.Hex()) || strings.Contains(logs, psk.Base64()) {
			t.Fatalf("the log reveals the PSK of epoch %d", e)
		}
	}
}

func p2sConfigs(t *testing.T, p *pki, gwAdmit func(context.Context, *Peer) (*Admission, error)) (client, gw Config, insC, insG *installs) {
	insC, insG = newInstalls(), newInstalls()
	client = Config{
		Role: Initiator, Kind: KindClient, WireGuardKey: wgKey(t), Signer: p.client.Key,
		Admit: func(_ context.Context, peer *Peer) (*Admission, error) {
			return &Admission{AllowedPrefixes: pfxs("10.0.0.0/8", "fd99::/16")}, nil
		},
		InstallPSK: insC.install, KeepaliveInterval: 50 * time.Millisecond, DeadAfter: 5 * time.Second,
	}
	gw = Config{
		Role: Responder, Kind: KindGateway, WireGuardKey: wgKey(t), Signer: p.server.Key,
		Prefixes: pfxs("10.2.0.0/16"), Admit: gwAdmit,
		InstallPSK: insG.install, KeepaliveInterval: 50 * time.Millisecond, DeadAfter: 5 * time.Second,
	}
	return client, gw, insC, insG
}

func TestPointToSiteAssignmentAndRevocation(t *testing.T) {
	p := newPKI(t)
	cc, sc := p.tlsPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	assignment := &Assignment{
		Addresses:     []netip.Addr{netip.MustParseAddr("10.99.0.7"), netip.MustParseAddr("fd99::7")},
		Routes:        pfxs("10.2.0.0/16", "192.168.50.0/24"),
		DNSServers:    []netip.Addr{netip.MustParseAddr("10.2.0.53")},
		SearchDomains: []string{"corp.example"},
	}
	cfgC, cfgG, insC, insG := p2sConfigs(t, p, func(_ context.Context, peer *Peer) (*Admission, error) {
		if peer.Kind != KindClient {
			return nil, Refuse(ReasonIdentity, "clients only")
		}
		return &Admission{AllowedPrefixes: pfxs("10.99.0.0/24", "fd99::/64"), Assignment: assignment}, nil
	})
	_, doneC := runSession(ctx, t, cc, cfgC)
	sG, doneG := runSession(ctx, t, sc, cfgG)
	insC.waitEpoch(t, ctx, 1)
	insG.waitEpoch(t, ctx, 1)
	if a, _ := insC.get(1); a != func() pqpsk.PSK { g, _ := insG.get(1); return g }() {
		t.Fatal("client and gateway installed different PSKs")
	}
	insC.mu.Lock()
	gwPeer := insC.peer
	insC.mu.Unlock()
	if !reflect.DeepEqual(gwPeer.Assignment, assignment) {
		t.Errorf("client got assignment %+v", gwPeer.Assignment)
	}
	if gwPeer.WireGuardKey != cfgG.WireGuardKey {
		t.Error("client does not have the gateway's tunnel key")
	}
	if !reflect.DeepEqual(gwPeer.Routes.Accepted, pfxs("10.2.0.0/16")) || len(gwPeer.Routes.Refused) != 1 {
		t.Errorf("client routes %+v (192.168.50.0/24 is outside what the client allows)", gwPeer.Routes)
	}
	insG.mu.Lock()
	clientPeer := insG.peer
	insG.mu.Unlock()
	if !reflect.DeepEqual(clientPeer.Routes.Accepted, pfxs("10.99.0.7/32", "fd99::7/128")) {
		t.Errorf("gateway routes toward the client: %+v", clientPeer.Routes)
	}

	sG.Close(ReasonRevoked, "certificate serial 3 revoked")
	wantSessionError(t, waitErr(t, doneG), ReasonRevoked, false, true, "serial 3 revoked")
	wantSessionError(t, waitErr(t, doneC), ReasonRevoked, true, true, "serial 3 revoked")
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		name   string
		admit  func(context.Context, *Peer) (*Admission, error)
		mutate func(p *pki, client *Config)
		reason Reason
		detail string
	}{
		{
			name: "pool exhausted",
			admit: func(context.Context, *Peer) (*Admission, error) {
				return nil, Refuse(ReasonPoolExhausted, "pool 10.99.0.0/30 has no free address")
			},
			reason: ReasonPoolExhausted, detail: "pool 10.99.0.0/30 has no free address",
		},
		{
			name: "plain admission error stays local",
			admit: func(context.Context, *Peer) (*Admission, error) {
				return nil, errors.New("lease store: disk on fire")
			},
			reason: ReasonIdentity, detail: "not admitted",
		},
		{
			name: "broken local allow-list stays local",
			admit: func(context.Context, *Peer) (*Admission, error) {
				return &Admission{AllowedPrefixes: pfxs("10.99.0.0/24", "10.99.0.0/16")}, nil
			},
			reason: ReasonInternal, detail: "admission failed",
		},
		{
			name: "no assignment for a client",
			admit: func(context.Context, *Peer) (*Admission, error) {
				return &Admission{AllowedPrefixes: pfxs("10.99.0.0/24")}, nil
			},
			reason: ReasonInternal, detail: "admission failed",
		},
		{
			name:   "WireGuard key signed by another key",
			mutate: func(p *pki, c *Config) { c.Signer = certs.NewKey(t, certs.Ed25519) },
			reason: ReasonKeyBinding, detail: "does not verify",
		},
		{
			name:   "client presents the gateway's WireGuard key",
			mutate: func(p *pki, c *Config) { c.WireGuardKey = [32]byte{42} },
			reason: ReasonKeyBinding, detail: "own WireGuard key",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPKI(t)
			cc, sc := p.tlsPair(t)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			admit := tt.admit
			if admit == nil {
				admit = func(context.Context, *Peer) (*Admission, error) {
					return &Admission{AllowedPrefixes: pfxs("10.99.0.0/24"), Assignment: &Assignment{Addresses: []netip.Addr{netip.MustParseAddr("10.99.0.2")}}}, nil
				}
			}
			cfgC, cfgG, insC, insG := p2sConfigs(t, p, admit)
			cfgG.WireGuardKey = [32]byte{42}
			if tt.mutate != nil {
				tt.mutate(p, &cfgC)
			}
			_, doneC := runSession(ctx, t, cc, cfgC)
			_, doneG := runSession(ctx, t, sc, cfgG)
			wantSessionError(t, waitErr(t, doneG), tt.reason, false, false, tt.detail)
			se := wantSessionError(t, waitErr(t, doneC), tt.reason, true, false, tt.detail)
			if strings.Contains(se.Error(), "disk on fire") || strings.Contains(se.Error(), "10.99.0.0/16") {
				t.Error("a local error was sent to the peer")
			}
			if len(insC.psks)+len(insG.psks) != 0 {
				t.Error("a refused peer got a PSK")
			}
		})
	}
}

// muteConn stops delivering what its owner writes once muted, like a peer
// that froze or a path that black-holes.
type muteConn struct {
	*tls.Conn
	muted atomic.Bool
}

func (m *muteConn) Write(p []byte) (int, error) {
	if m.muted.Load() {
		return len(p), nil
	}
	return m.Conn.Write(p)
}

func TestPeerThatStopsAnsweringIsDead(t *testing.T) {
	p := newPKI(t)
	cc, sc := p.tlsPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The TLS handshake is done before the sessions start, so that the
	// short DeadAfter of this test (which also bounds Run's handshake)
	// does not race a slow machine.
	handshakeBoth(t, cc, sc)
	mute := &muteConn{Conn: sc}
	insA, insB := newInstalls(), newInstalls()
	const deadAfter = time.Second
	cfgA := Config{
		Role: Initiator, Kind: KindGateway, WireGuardKey: wgKey(t), Signer: p.client.Key,
		Admit:      func(context.Context, *Peer) (*Admission, error) { return &Admission{}, nil },
		InstallPSK: insA.install, RotationPeriod: time.Hour, KeepaliveInterval: 100 * time.Millisecond, DeadAfter: deadAfter,
	}
	cfgB := cfgA
	cfgB.Role, cfgB.WireGuardKey, cfgB.Signer, cfgB.InstallPSK = Responder, wgKey(t), p.server.Key, insB.install
	sA, doneA := runSession(ctx, t, cc, cfgA)
	_, doneB := runSession(ctx, t, mute, cfgB)
	insB.waitEpoch(t, ctx, 1)
	insA.waitEpoch(t, ctx, 1)
	time.Sleep(3 * cfgA.KeepaliveInterval)
	mute.muted.Store(true)
	err := waitErr(t, doneA)
	if !errors.Is(err, ErrDeadPeer) {
		t.Fatalf("A ended with %v, want ErrDeadPeer", err)
	}
	wantSessionError(t, err, ReasonTimeout, false, false, "nothing heard")
	if silent := time.Since(sA.Status().LastHeard); silent < deadAfter {
		t.Errorf("declared dead after %s of silence, limit %s", silent, deadAfter)
	}
	// B still hears A, and learns why A gave up.
	wantSessionError(t, waitErr(t, doneB), ReasonTimeout, true, false, "nothing heard")
}

func TestSilentResponderIsDeadBeforeHello(t *testing.T) {
	p := newPKI(t)
	cc, sc := p.tlsPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	handshakeBoth(t, cc, sc)
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := sc.Read(buf); err != nil {
				return
			}
		}
	}()
	cfg := Config{
		Role: Initiator, Kind: KindGateway, WireGuardKey: wgKey(t), Signer: p.client.Key,
		Admit:      func(context.Context, *Peer) (*Admission, error) { return &Admission{}, nil },
		InstallPSK: newInstalls().install, KeepaliveInterval: 50 * time.Millisecond, DeadAfter: 300 * time.Millisecond,
	}
	_, done := runSession(ctx, t, cc, cfg)
	err := waitErr(t, done)
	if !errors.Is(err, ErrDeadPeer) {
		t.Fatalf("got %v, want ErrDeadPeer", err)
	}
}

// TestMalformedInputEndsSession plays a raw TLS client that sends one bad
// frame to a responder session, and checks both the session's error and the
// refusal the client reads back.
func TestMalformedInputEndsSession(t *testing.T) {
	tests := []struct {
		name   string
		frame  []byte
		reason Reason
		detail string
	}{
		{"unknown type", frame(1, 99, nil), ReasonProtocol, "unknown message type 99"},
		{"version 2", frame(2, TypeHello, nil), ReasonVersion, "protocol version 2, this end speaks 1"},
		{"oversized", []byte{1, byte(TypeHello), 0xff, 0xff}, ReasonProtocol, "exceeds 16384"},
		{"bad prefix in hello", frame(1, TypeHello, helloBody(func(w *writer) {
			w.u16(1)
			w.prefix(netip.PrefixFrom(netip.MustParseAddr("10.0.0.1"), 8))
			w.u8(0)
		})), ReasonProtocol, "prefixes[0]: prefix 10.0.0.1/8 has host bits set"},
		{"rotation before hello", mustEncode(t, &RotatePropose{Epoch: 1, EncapsulationKey: make([]byte, pqpsk.EncapsulationKeySize)}), ReasonUnexpected, "expected hello, got rotate-propose"},
		{"forged hello", mustEncode(t, &Hello{Kind: KindGateway, WireGuardKey: [32]byte{1}, KeySignature: make([]byte, 64)}), ReasonKeyBinding, "does not verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPKI(t)
			cc, sc := p.tlsPair(t)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cfg := Config{
				Role: Responder, Kind: KindGateway, WireGuardKey: wgKey(t), Signer: p.server.Key,
				Admit:      func(context.Context, *Peer) (*Admission, error) { return &Admission{}, nil },
				InstallPSK: newInstalls().install,
			}
			_, done := runSession(ctx, t, sc, cfg)
			if err := cc.HandshakeContext(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := cc.Write(tt.frame); err != nil {
				t.Fatal(err)
			}
			wantSessionError(t, waitErr(t, done), tt.reason, false, false, tt.detail)
			if err := cc.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			m, err := ReadMessage(cc)
			if err != nil {
				t.Fatalf("reading the refusal: %v", err)
			}
			ref, ok := m.(*Refusal)
			if !ok || ref.Reason != tt.reason || !strings.Contains(ref.Detail, tt.detail) {
				t.Fatalf("peer got %+v", m)
			}
		})
	}
}

func mustEncode(t testing.TB, m Message) []byte {
	t.Helper()
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConfigChecks(t *testing.T) {
	p := newPKI(t)
	ok := Config{
		Role: Initiator, Kind: KindGateway, Signer: p.client.Key,
		Admit:      func(context.Context, *Peer) (*Admission, error) { return &Admission{}, nil },
		InstallPSK: newInstalls().install,
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no role", func(c *Config) { c.Role = 0 }, "role 0"},
		{"client responder", func(c *Config) { c.Role, c.Kind = Responder, KindClient }, "a responder must be a gateway"},
		{"client prefixes", func(c *Config) { c.Kind, c.Prefixes = KindClient, pfxs("10.0.0.0/8") }, "a client offers no prefixes"},
		{"no signer", func(c *Config) { c.Signer = nil }, "Signer"},
		{"no admit", func(c *Config) { c.Admit = nil }, "no Admit"},
		{"no install", func(c *Config) { c.InstallPSK = nil }, "no InstallPSK"},
		{"overlap", func(c *Config) { c.Prefixes = pfxs("10.0.0.0/8", "10.1.0.0/16") }, "prefixes[1]: 10.1.0.0/16 overlaps"},
		{"bad transport", func(c *Config) {
			c.Transports = []Transport{{Name: "Carrier Pigeon", Endpoint: netip.MustParseAddrPort("192.0.2.1:1")}}
		}, "transports[0].name"},
		{"dead before keepalive", func(c *Config) { c.KeepaliveInterval, c.DeadAfter = time.Second, time.Second }, "must exceed"},
		{"negative", func(c *Config) { c.RotationPeriod = -1 }, "negative"},
	}
	for _, tt := range tests {
		c := ok
		tt.mutate(&c)
		if _, err := New(nil, c); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, err := New(nil, ok); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestRotateOnDemand(t *testing.T) {
	p := newPKI(t)
	cc, sc := p.tlsPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	insA, insB := newInstalls(), newInstalls()
	admit := func(context.Context, *Peer) (*Admission, error) { return &Admission{}, nil }
	cfgA := Config{Role: Initiator, Kind: KindGateway, WireGuardKey: wgKey(t), Signer: p.client.Key, Admit: admit,
		InstallPSK: insA.install, RotationPeriod: time.Hour}
	cfgB := cfgA
	cfgB.Role, cfgB.WireGuardKey, cfgB.Signer, cfgB.InstallPSK = Responder, wgKey(t), p.server.Key, insB.install
	sA, doneA := runSession(ctx, t, cc, cfgA)
	_, doneB := runSession(ctx, t, sc, cfgB)
	insB.waitEpoch(t, ctx, 1)
	// Each request comes as soon as B has installed, often before A has
	// the ack: the request then waits for the rotation in flight.
	for e := uint64(2); e <= 6; e++ {
		if err := sA.Rotate(); err != nil {
			t.Fatal(err)
		}
		insB.waitEpoch(t, ctx, e)
	}
	cancel()
	<-doneA
	<-doneB
	for e := uint64(1); e <= 6; e++ {
		a, _ := insA.get(e)
		b, okB := insB.get(e)
		if !okB || a != b {
			t.Fatalf("epoch %d: A %s, B %s", e, a, b)
		}
	}
	if _, ok := insB.get(7); ok {
		t.Error("more rotations than asked for")
	}
}

// TestIdleSessionWakes checks that a session waiting on its connection,
// with no timer due for an hour, still acts at once on Rotate, Close and the
// end of its context: they wake the one goroutine of the session.
func TestIdleSessionWakes(t *testing.T) {
	p := newPKI(t)
	cc, sc := p.tlsPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctxB, cancelB := context.WithCancel(ctx)
	defer cancelB()
	insA, insB := newInstalls(), newInstalls()
	admit := func(context.Context, *Peer) (*Admission, error) { return &Admission{}, nil }
	cfgA := Config{Role: Initiator, Kind: KindGateway, WireGuardKey: wgKey(t), Signer: p.client.Key, Admit: admit,
		InstallPSK: insA.install, RotationPeriod: time.Hour, KeepaliveInterval: time.Hour, DeadAfter: 2 * time.Hour}
	cfgB := cfgA
	cfgB.Role, cfgB.WireGuardKey, cfgB.Signer, cfgB.InstallPSK = Responder, wgKey(t), p.server.Key, insB.install
	sA, doneA := runSession(ctx, t, cc, cfgA)
	_, doneB := runSession(ctxB, t, sc, cfgB)
	insA.waitEpoch(t, ctx, 1)
	if err := sA.Rotate(); err != nil {
		t.Fatal(err)
	}
	insA.waitEpoch(t, ctx, 2)
	cancelB()
	if err := waitErr(t, doneB); !errors.Is(err, context.Canceled) {
		t.Fatalf("B: %v, want its context's end", err)
	}
	wantSessionError(t, waitErr(t, doneA), ReasonShutdown, true, true, "shutting down")

	insA, insB = newInstalls(), newInstalls()
	cfgA.InstallPSK, cfgB.InstallPSK = insA.install, insB.install
	cc, sc = p.tlsPair(t)
	sA, doneA = runSession(ctx, t, cc, cfgA)
	_, doneB = runSession(ctx, t, sc, cfgB)
	insA.waitEpoch(t, ctx, 1)
	sA.Close(ReasonRemoved, "removed from the configuration")
	wantSessionError(t, waitErr(t, doneA), ReasonRemoved, false, true, "removed")
	wantSessionError(t, waitErr(t, doneB), ReasonRemoved, true, true, "removed")

	// A Close followed at once by the end of the context (how s2s stops a
	// removed remote) still tells the peer the Close's reason.
	for i := range 20 {
		insA, insB = newInstalls(), newInstalls()
		cfgA.InstallPSK, cfgB.InstallPSK = insA.install, insB.install
		cc, sc = p.tlsPair(t)
		ctxA, cancelA := context.WithCancel(ctx)
		sA, doneA = runSession(ctxA, t, cc, cfgA)
		_, doneB = runSession(ctx, t, sc, cfgB)
		insA.waitEpoch(t, ctx, 1)
		sA.Close(ReasonRemoved, "removed from the configuration")
		cancelA()
		wantSessionError(t, waitErr(t, doneA), ReasonRemoved, false, true, "removed")
		if err := waitErr(t, doneB); !strings.Contains(fmt.Sprint(err), "removed") {
			t.Fatalf("round %d: the peer of a closed and cancelled session heard %v, want the Close's reason", i, err)
		}
	}
}

// metricValue returns the value of a counter, or the sample count of a
// histogram, whose labels (sorted, "k=v,k=v") are exactly labels.
func metricValue(t *testing.T, reg *prometheus.Registry, name, labels string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var kv []string
			for _, l := range m.GetLabel() {
				kv = append(kv, l.GetName()+"="+l.GetValue())
			}
			if strings.Join(kv, ",") != labels {
				continue
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s{%s}", name, labels)
	return 0
}

// handshakeBoth completes the TLS handshake of both ends.
func handshakeBoth(t *testing.T, cc, sc *tls.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- sc.HandshakeContext(ctx) }()
	if err := cc.HandshakeContext(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestPeerReasonOutlivesAFailedWrite(t *testing.T) {
	writeErr := errors.New("control: send ping: broken pipe")
	for _, tt := range []struct {
		name  string
		feed  []Message
		end   bool // the peer closes the connection after feed
		check func(error) bool
	}{
		{"close after a pong", []Message{&Pong{Seq: 1}, &Close{Reason: ReasonRevoked, Detail: "serial 7"}}, false, func(err error) bool {
			var se *SessionError
			return errors.As(err, &se) && se.Remote && se.Closed && se.Reason == ReasonRevoked && se.Detail == "serial 7"
		}},
		{"refusal", []Message{&Refusal{Reason: ReasonIdentity, Detail: "no"}}, false, func(err error) bool {
			var se *SessionError
			return errors.As(err, &se) && se.Remote && !se.Closed && se.Reason == ReasonIdentity
		}},
		{"connection ends without a reason", nil, true, func(err error) bool { return err == writeErr }},
		{"nothing arrives", nil, false, func(err error) bool { return err == writeErr }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			go func() {
				for _, m := range tt.feed {
					if _, err := b.Write(mustEncode(t, m)); err != nil {
						return
					}
				}
				if tt.end {
					b.Close()
				}
			}()
			s := &Session{conn: &recordedConn{Conn: a}}
			r := &run{Session: s, frames: &frameReader{r: a}}
			if got := r.peerReason(writeErr); !tt.check(got) {
				t.Errorf("got %v", got)
			}
		})
	}
}

func TestFrameReaderKeepsAFrameAcrossDeadlines(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	frame := mustEncode(t, &Close{Reason: ReasonRevoked, Detail: "serial 7"})
	f := &frameReader{r: a}
	// The first two parts end inside the header and inside the body: each
	// read after them fails with the deadline, and the frame is kept.
	for i, part := range [][]byte{frame[:2], frame[2:7]} {
		written := make(chan struct{})
		go func() { b.Write(part); close(written) }()
		for done := false; !done; {
			if err := a.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			if m, err := f.next(); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("part %d: got %v, %v; want a deadline error", i, m, err)
			}
			select {
			case <-written:
				done = true
			default:
			}
		}
	}
	if err := a.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	go b.Write(frame[7:])
	m, err := f.next()
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := m.(*Close); !ok || c.Reason != ReasonRevoked || c.Detail != "serial 7" {
		t.Errorf("got %#v", m)
	}
}
