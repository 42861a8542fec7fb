package status

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestServeGet(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	path := filepath.Join(dir, "status.sock")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket mode %s, want a 0600 socket", fi.Mode())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	want := Report{Gateway: Gateway{Identity: "intransit://t/gateway/a"}, Peers: []Peer{{Name: "b", State: StateUp, PSKEpoch: 3}}}
	go func() { done <- Serve(ctx, ln, func() Report { return want }, slog.New(slog.DiscardHandler)) }()
	got, err := Get(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Gateway.Identity != want.Gateway.Identity || len(got.Peers) != 1 || got.Peers[0].PSKEpoch != 3 {
		t.Errorf("got %+v", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not stop")
	}
	if _, err := Get(context.Background(), path); err == nil || !strings.Contains(err.Error(), "is intransitd running") {
		t.Errorf("Get after stop: %v", err)
	}
}

func TestListenRefusesOpenDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "open")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(filepath.Join(dir, "s.sock")); err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("got %v, want a refusal of the world-writable directory", err)
	}
}
