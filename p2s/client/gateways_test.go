package client

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestGatewaysInTurn(t *testing.T) {
	c := &Client{log: slog.New(slog.DiscardHandler), profile: &Profile{Gateway: "gw-a", Gateways: []string{"gw-b", "gw-c"}}}
	var got []string
	for range 4 {
		got = append(got, c.host())
		c.nextGateway()
	}
	if want := []string{"gw-a", "gw-b", "gw-c", "gw-a"}; !slices.Equal(got, want) {
		t.Fatalf("dialed %v, want %v", got, want)
	}
	if cfg := c.monitorConfig([]string{"udp://gw-a:51821"}); cfg.GiveUpAfter != giveUpAfter || len(cfg.Endpoints) != 1 {
		t.Fatalf("monitor with several gateways: %+v", cfg)
	}

	alone := &Client{log: slog.New(slog.DiscardHandler), profile: &Profile{Gateway: "gw-a"}}
	alone.nextGateway()
	if alone.host() != "gw-a" {
		t.Fatalf("a gateway alone: dialing %s", alone.host())
	}
	// A gateway alone is never given up: its transports are all tried.
	if cfg := alone.monitorConfig(nil); cfg.GiveUpAfter != 0 {
		t.Fatalf("monitor of a gateway alone gives up after %s", cfg.GiveUpAfter)
	}
}

func TestProfileGateways(t *testing.T) {
	base := "name: alice\ngroup: staff\nidentity: intransit://p2s/client/alice\ngateway: 192.0.2.1\ncontrol_port: 8444\nrenew_port: 8446\ntransports: [udp, quic, tls]\ntls_profile: pq\n"
	load := func(text string) (*Profile, error) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ProfileFile), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return LoadProfile(dir)
	}
	// A profile from before several gateways loads as it did.
	p, err := load(base)
	if err != nil || len(p.Gateways) != 0 {
		t.Fatalf("profile without gateways: %+v, %v", p, err)
	}
	p, err = load(base + "gateways: [192.0.2.2, gw-c.example]\n")
	if err != nil || !slices.Equal(p.Gateways, []string{"192.0.2.2", "gw-c.example"}) {
		t.Fatalf("profile with gateways: %+v, %v", p, err)
	}
	for _, bad := range []string{"gateways: [192.0.2.1]\n", "gateways: [192.0.2.2, 192.0.2.2]\n", "gateways: ['']\n"} {
		if _, err := load(base + bad); err == nil || !strings.Contains(err.Error(), "gateways[") {
			t.Errorf("%q: %v, want an error naming gateways[i]", bad, err)
		}
	}
}
