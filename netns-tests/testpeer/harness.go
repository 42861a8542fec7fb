package testpeer

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"intransit/netns-tests/netlab"
	"intransit/tunnel"
)

// Build compiles cmd/testpeer (with -race when the test itself runs with
// -race) and returns the binary's path.
func Build(t testing.TB) string {
	t.Helper()
	return netlab.GoBuild(t, "intransit/netns-tests/testpeer/cmd/testpeer", true)
}

// Endpoint is a running testpeer process in a host.
type Endpoint struct {
	t       testing.TB
	host    *netlab.Host
	proc    *netlab.Process
	control string
	// PublicKey is the endpoint's public key.
	PublicKey tunnel.PublicKey
}

// NewKey returns a fresh private key, failing the test on error.
func NewKey(t testing.TB) tunnel.PrivateKey {
	t.Helper()
	k, err := tunnel.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Start writes cfg to the test's temporary directory, starts the endpoint
// binary bin in host and waits until its control socket answers (or fails
// the test with the endpoint's output after 30 seconds).
func Start(t testing.TB, host *netlab.Host, bin string, cfg Config) *Endpoint {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "peer.yaml")
	if err := cfg.Write(path); err != nil {
		t.Fatalf("testpeer: %v", err)
	}
	priv, err := tunnel.ParsePrivateKey(cfg.PrivateKey)
	if err != nil {
		t.Fatalf("testpeer: private_key: %v", err)
	}
	e := &Endpoint{t: t, host: host, control: filepath.Join(dir, "control.sock"), PublicKey: priv.PublicKey()}
	e.proc = host.Start(bin, "--config", path, "--control", e.control)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := Call(ctx, e.control, Request{Op: OpInfo})
		cancel()
		if err == nil {
			return e
		}
		select {
		case <-e.proc.Done():
			t.Fatalf("testpeer on %s exited during start:\n%s", host.Name(), e.proc.Output())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("testpeer on %s not ready after 30s: %v\n%s", host.Name(), err, e.proc.Output())
		}
	}
}

// Process returns the endpoint's process.
func (e *Endpoint) Process() *netlab.Process { return e.proc }

func (e *Endpoint) call(req Request) (*Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := Call(ctx, e.control, req)
	if err != nil {
		return nil, fmt.Errorf("testpeer on %s: %w", e.host.Name(), err)
	}
	return resp, nil
}

// Info returns the device's description, failing the test on error.
func (e *Endpoint) Info() Info {
	e.t.Helper()
	resp, err := e.call(Request{Op: OpInfo})
	if err != nil {
		e.t.Fatal(err)
	}
	return *resp.Info
}

// Peers returns every peer's status, failing the test on error.
func (e *Endpoint) Peers() []PeerStatus {
	e.t.Helper()
	resp, err := e.call(Request{Op: OpPeers})
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.Peers
}

// Peer returns one peer's status and whether the device has it.
func (e *Endpoint) Peer(pub tunnel.PublicKey) (PeerStatus, bool) {
	e.t.Helper()
	for _, p := range e.Peers() {
		if p.PublicKey == pub.String() {
			return p, true
		}
	}
	return PeerStatus{}, false
}

// SetPeer creates or updates a peer, failing the test on error.
func (e *Endpoint) SetPeer(p Peer) {
	e.t.Helper()
	if _, err := e.call(Request{Op: OpSetPeer, Peer: &p}); err != nil {
		e.t.Fatal(err)
	}
}

// RemovePeer removes a peer, failing the test on error.
func (e *Endpoint) RemovePeer(pub tunnel.PublicKey) {
	e.t.Helper()
	if _, err := e.call(Request{Op: OpRemovePeer, PublicKey: pub.String()}); err != nil {
		e.t.Fatal(err)
	}
}

// WaitHandshake waits until the device reports a handshake with pub, for at
// most timeout.
func (e *Endpoint) WaitHandshake(pub tunnel.PublicKey, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := e.call(Request{Op: OpPeers})
		if err != nil {
			return err
		}
		for _, p := range resp.Peers {
			if p.PublicKey == pub.String() && !p.LastHandshake.IsZero() {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return errors.New("no handshake with " + pub.String() + " within " + timeout.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the endpoint (SIGTERM), which closes its device, and fails the
// test if it exited with an error.
func (e *Endpoint) Stop() {
	e.t.Helper()
	if err := e.proc.Stop(10 * time.Second); err != nil {
		e.t.Errorf("testpeer on %s: %v", e.host.Name(), err)
	}
}
