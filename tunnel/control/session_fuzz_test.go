package control

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"
)

// recordedConn is one end of a net.Pipe that reports the state of a real
// TLS 1.3 mTLS session recorded once, so that the fuzzer can drive a
// session without paying for a handshake per input. The exporter values of
// the recorded state are real and agree between the two ends.
type recordedConn struct {
	net.Conn
	cs tls.ConnectionState
}

func (c *recordedConn) HandshakeContext(context.Context) error { return nil }
func (c *recordedConn) ConnectionState() tls.ConnectionState   { return c.cs }

// FuzzResponderInput feeds whatever follows a valid Hello to a responder
// session: the session must end with an error, never panic, never hang, and
// never install a PSK that the input did not earn by a full rotation.
func FuzzResponderInput(f *testing.F) {
	p := newPKI(f)
	cc, sc := p.tlsPair(f)
	ctx := context.Background()
	errc := make(chan error, 1)
	go func() { errc <- sc.HandshakeContext(ctx) }()
	if err := cc.HandshakeContext(ctx); err != nil {
		f.Fatal(err)
	}
	if err := <-errc; err != nil {
		f.Fatal(err)
	}
	clientState, serverState := cc.ConnectionState(), sc.ConnectionState()
	key := wgKey(f)
	msg, err := bindingMessage(&clientState, Initiator, KindGateway, key)
	if err != nil {
		f.Fatal(err)
	}
	sig, err := signBinding(p.client.Key, msg)
	if err != nil {
		f.Fatal(err)
	}
	hello := mustEncode(f, &Hello{Kind: KindGateway, WireGuardKey: key, KeySignature: sig})

	for _, m := range samples() {
		f.Add(mustEncode(f, m))
	}
	f.Add(append(mustEncode(f, &Ping{Seq: 1}), mustEncode(f, &Close{Reason: ReasonShutdown})...))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, input []byte) {
		a, b := net.Pipe()
		defer a.Close()
		ins := newInstalls()
		s, err := New(&recordedConn{Conn: b, cs: serverState}, Config{
			Role: Responder, Kind: KindGateway, WireGuardKey: wgKey(t), Signer: p.server.Key,
			Admit:      func(context.Context, *Peer) (*Admission, error) { return &Admission{}, nil },
			InstallPSK: ins.install, KeepaliveInterval: time.Second, DeadAfter: 2 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- s.Run(rctx) }()
		// Drain what the session writes so it never blocks on the pipe.
		go func() {
			buf := make([]byte, 4096)
			for {
				if _, err := a.Read(buf); err != nil {
					return
				}
			}
		}()
		if _, err := a.Write(hello); err != nil {
			t.Fatal(err)
		}
		_, _ = a.Write(input)
		a.Close()
		err = <-done
		if err == nil {
			t.Fatal("Run returned nil")
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatal("the session hung on the input")
		}
		if len(ins.psks) != 0 {
			t.Fatalf("input installed a PSK: %v", err)
		}
	})
}
