package control

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// BenchmarkRotationRoundTrip measures one PSK rotation between two running
// sessions over loopback TLS 1.3 (pq profile): X-Wing key generation,
// encapsulation, decapsulation, key confirmation and four control messages.
func BenchmarkRotationRoundTrip(b *testing.B) {
	p := newPKI(b)
	cc, sc := p.tlsPair(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	insA, insB := newInstalls(), newInstalls()
	admit := func(context.Context, *Peer) (*Admission, error) { return &Admission{}, nil }
	cfgA := Config{Role: Initiator, Kind: KindGateway, WireGuardKey: wgKey(b), Signer: p.client.Key, Admit: admit,
		InstallPSK: insA.install, RotationPeriod: time.Hour, KeepaliveInterval: 10 * time.Second, DeadAfter: time.Minute}
	cfgB := cfgA
	cfgB.Role, cfgB.WireGuardKey, cfgB.Signer, cfgB.InstallPSK = Responder, wgKey(b), p.server.Key, insB.install
	insA.latest, insB.latest = make(chan uint64, 1<<20), make(chan uint64, 1<<20)
	sA, doneA := runSession(ctx, b, cc, cfgA)
	_, doneB := runSession(ctx, b, sc, cfgB)
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	insB.waitEpoch(b, wctx, 1)
	epoch := uint64(1)
	for b.Loop() {
		epoch++
		if err := sA.Rotate(); err != nil {
			b.Fatal(err)
		}
		insB.waitEpoch(b, wctx, epoch)
	}
	b.StopTimer()
	cancel()
	<-doneA
	<-doneB
}

// BenchmarkTLSHandshakeReference is the reference for the rotation: a full
// TLS 1.3 mTLS handshake with the same configs (X25519MLKEM768, ECDSA and
// Ed25519 certificates) over a fresh loopback TCP connection, as a
// reconnect would do.
func BenchmarkTLSHandshakeReference(b *testing.B) {
	p := newPKI(b)
	srvCfg, cliCfg := p.configs(b, p.ca, p.client)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	ctx := context.Background()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s := tls.Server(c, srvCfg)
			if s.HandshakeContext(ctx) == nil {
				// Read until the client closes, so the client's first
				// read sees the server's verdict on its certificate.
				_, _ = s.Read(make([]byte, 1))
			}
			s.Close()
		}
	}()
	for b.Loop() {
		raw, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		c := tls.Client(raw, cliCfg)
		if err := c.HandshakeContext(ctx); err != nil {
			b.Fatal(err)
		}
		if c.ConnectionState().CurveID != tls.X25519MLKEM768 {
			b.Fatal("not the hybrid group")
		}
		c.Close()
	}
}
