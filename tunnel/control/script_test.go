package control

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"intransit/internal/testutil/certs"
	"intransit/tunnel/pqpsk"
)

// scriptedInitiator speaks the protocol by hand over the client end, so a
// test can send what a correct session never would.
type scriptedInitiator struct {
	t    *testing.T
	conn *tls.Conn
	cs   tls.ConnectionState
}

func (s *scriptedInitiator) send(m Message) {
	s.t.Helper()
	if _, err := s.conn.Write(mustEncode(s.t, m)); err != nil {
		s.t.Fatal(err)
	}
}

// recv returns the next message that is not a ping (pings are answered).
func (s *scriptedInitiator) recv() Message {
	s.t.Helper()
	if err := s.conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		s.t.Fatal(err)
	}
	for {
		m, err := ReadMessage(s.conn)
		if err != nil {
			s.t.Fatalf("scripted peer: %v", err)
		}
		if p, ok := m.(*Ping); ok {
			s.send(&Pong{Seq: p.Seq})
			continue
		}
		return m
	}
}

// hello completes the Hello exchange as a gateway initiator.
func (s *scriptedInitiator) hello(p *pki) {
	s.t.Helper()
	key := wgKey(s.t)
	msg, err := bindingMessage(&s.cs, Initiator, KindGateway, key)
	if err != nil {
		s.t.Fatal(err)
	}
	sig, err := signBinding(p.client.Key, msg)
	if err != nil {
		s.t.Fatal(err)
	}
	s.send(&Hello{Kind: KindGateway, WireGuardKey: key, KeySignature: sig})
	if m := s.recv(); m.Type() != TypeHello {
		s.t.Fatalf("got %s, want hello", m.Type())
	}
}

func startScripted(t *testing.T, p *pki, ins *installs) (*scriptedInitiator, <-chan error) {
	cc, sc := p.tlsPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	cfg := Config{
		Role: Responder, Kind: KindGateway, WireGuardKey: wgKey(t), Signer: p.server.Key,
		Admit:      func(context.Context, *Peer) (*Admission, error) { return &Admission{}, nil },
		InstallPSK: ins.install, KeepaliveInterval: 50 * time.Millisecond, DeadAfter: 2 * time.Second,
	}
	handshakeBoth(t, cc, sc)
	_, done := runSession(ctx, t, sc, cfg)
	return &scriptedInitiator{t: t, conn: cc, cs: cc.ConnectionState()}, done
}

func TestRotationFailures(t *testing.T) {
	tests := []struct {
		name   string
		script func(s *scriptedInitiator)
		reason Reason
		detail string
	}{
		{
			name: "wrong key confirmation",
			script: func(s *scriptedInitiator) {
				prop, err := pqpsk.Propose(nil)
				if err != nil {
					s.t.Fatal(err)
				}
				s.send(&RotatePropose{Epoch: 1, EncapsulationKey: prop.EncapsulationKey()})
				ans := s.recv().(*RotateAnswer)
				sec, err := prop.Finish(&s.cs, 1, ans.Ciphertext)
				if err != nil {
					s.t.Fatal(err)
				}
				if err := sec.VerifyConfirmation(pqpsk.Accepter, ans.Confirmation); err != nil {
					s.t.Fatalf("the session's confirmation does not verify: %v", err)
				}
				// Reflect the accepter's own tag instead of the proposer's.
				s.send(&RotateCommit{Epoch: 1, Confirmation: ans.Confirmation})
			},
			reason: ReasonRotation, detail: "key confirmation failed",
		},
		{
			name: "epoch skipped",
			script: func(s *scriptedInitiator) {
				prop, err := pqpsk.Propose(nil)
				if err != nil {
					s.t.Fatal(err)
				}
				s.send(&RotatePropose{Epoch: 2, EncapsulationKey: prop.EncapsulationKey()})
			},
			reason: ReasonRotation, detail: "epoch 2, expected epoch 1",
		},
		{
			name: "commit without proposal",
			script: func(s *scriptedInitiator) {
				s.send(&RotateCommit{Epoch: 1, Confirmation: make([]byte, 32)})
			},
			reason: ReasonUnexpected, detail: "rotate-commit for epoch 1, none awaited",
		},
		{
			name: "second hello",
			script: func(s *scriptedInitiator) {
				s.send(&Hello{Kind: KindGateway, WireGuardKey: [32]byte{1}, KeySignature: []byte{1}})
			},
			reason: ReasonUnexpected, detail: "hello after the hello exchange",
		},
		{
			name: "proposal stalls",
			script: func(s *scriptedInitiator) {
				prop, err := pqpsk.Propose(nil)
				if err != nil {
					s.t.Fatal(err)
				}
				s.send(&RotatePropose{Epoch: 1, EncapsulationKey: prop.EncapsulationKey()})
				s.recv()
				// Keep answering pings but never commit.
				go func() {
					for {
						m, err := ReadMessage(s.conn)
						if err != nil {
							return
						}
						if p, ok := m.(*Ping); ok {
							if _, err := s.conn.Write(mustEncode(s.t, &Pong{Seq: p.Seq})); err != nil {
								return
							}
						}
					}
				}()
			},
			reason: ReasonTimeout, detail: "PSK rotation epoch 1 not completed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPKI(t)
			ins := newInstalls()
			s, done := startScripted(t, p, ins)
			s.hello(p)
			tt.script(s)
			wantSessionError(t, waitErr(t, done), tt.reason, false, false, tt.detail)
			if len(ins.psks) != 0 {
				t.Error("a PSK was installed by a failed rotation")
			}
		})
	}
}

func TestForeignCertificateIsRefusedBeforeTheProtocol(t *testing.T) {
	p := newPKI(t)
	other := certs.NewCA(t, "another CA")
	stranger := other.Issue(certs.LeafOptions{CommonName: "gw-x", URIs: []string{"intransit://site/a"}})
	cc, sc := p.tlsPairWith(t, p.ca, stranger)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var admitted atomic.Bool
	admit := func(context.Context, *Peer) (*Admission, error) { admitted.Store(true); return &Admission{}, nil }
	cfgA := Config{Role: Initiator, Kind: KindGateway, WireGuardKey: wgKey(t), Signer: stranger.Key, Admit: admit, InstallPSK: newInstalls().install}
	cfgB := Config{Role: Responder, Kind: KindGateway, WireGuardKey: wgKey(t), Signer: p.server.Key, Admit: admit, InstallPSK: newInstalls().install}
	_, doneA := runSession(ctx, t, cc, cfgA)
	_, doneB := runSession(ctx, t, sc, cfgB)
	// In TLS 1.3 the client's handshake completes before the server has
	// checked the client certificate, so the initiator learns of the
	// refusal on its first read: the bad_certificate alert, or a reset
	// when the server's kernel discards the Hello it never read.
	var se *SessionError
	if errA := waitErr(t, doneA); errA == nil || errors.As(errA, &se) ||
		!(strings.Contains(errA.Error(), "bad certificate") || strings.Contains(errA.Error(), "connection reset")) {
		t.Errorf("initiator: got %v, want the TLS refusal", errA)
	}
	if errB := waitErr(t, doneB); errB == nil || errors.As(errB, &se) || !strings.Contains(errB.Error(), "TLS handshake") {
		t.Errorf("responder: got %v, want a TLS handshake error", errB)
	}
	if admitted.Load() {
		t.Error("a peer from another CA reached admission")
	}
}
