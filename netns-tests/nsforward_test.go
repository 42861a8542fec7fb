package netnstests

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"intransit/internal/nsforward"
	"intransit/netns-tests/netlab"
)

// TestNSForward: a stream sent to a forwarder in this namespace arrives
// whole at a receiver listening on the loopback address of a host's
// namespace, which this namespace does not reach directly; a namespace
// that does not exist is an error naming it.
func TestNSForward(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t)
	h := lab.Host("srv")
	xfer := netlab.GoBuild(t, "intransit/netns-tests/xfer", true)
	const target = "127.0.0.1:47213"
	recv := h.Start(xfer, "recv", "--listen", target, "--timeout", "60s")
	// Wait until the receiver listens.
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _ := h.Run(context.Background(), "ss", "-Hltn", "sport", "= :47213")
		if strings.TrimSpace(string(out)) != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("xfer recv does not listen:\n%s", recv.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c, err := net.DialTimeout("tcp", target, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s answers in this namespace: the receiver is not separated from it", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- nsforward.Serve(ctx, ln, h.Namespace(), target) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 4<<20)
	r := rand.NewChaCha8([32]byte{1})
	_, _ = r.Read(data)
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if err := recv.Wait(wctx); err != nil {
		t.Fatalf("xfer recv: %v\n%s", err, recv.Output())
	}
	c.Close()
	sum := sha256.Sum256(data)
	want := fmt.Sprintf("bytes=%d sha256=%s", len(data), hex.EncodeToString(sum[:]))
	if !strings.Contains(recv.Output(), want) {
		t.Fatalf("the receiver in the namespace got %q, want %q", recv.Output(), want)
	}
	if _, err := nsforward.Dial(context.Background(), lab.Prefix()+"-nosuch", "tcp", target); err == nil || !strings.Contains(err.Error(), "-nosuch") {
		t.Fatalf("a missing namespace: %v", err)
	}
}
