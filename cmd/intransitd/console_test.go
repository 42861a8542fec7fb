package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"intransit/internal/daemonconfig"
	"intransit/internal/gatewaycore"
	"intransit/internal/status"
)

func TestConsoleNeedsRestart(t *testing.T) {
	base := "identity: {cert: a.pem, key: a.key, ca: ca.pem, crl: crl.pem}\nlisten: {udp: 192.0.2.1:51820}\nsite_prefixes: [10.1.0.0/24]\n"
	a, err := daemonconfig.Parse("a.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	b, err := daemonconfig.Parse("a.yaml", []byte(base+"console: {listen: 127.0.0.1:9090}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := gatewaycore.RestartOnly(a, b); got != "console" {
		t.Fatalf("adding a console: RestartOnly = %q, want console", got)
	}
	if got := gatewaycore.RestartOnly(b, b); got != "" {
		t.Fatalf("the same console: RestartOnly = %q", got)
	}
}

func TestRefusedReloadIsRecorded(t *testing.T) {
	d := &daemon{}
	at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	d.reloadRefused(at)("listen.control: this change needs a restart")
	if got := d.lastReload; got != (status.Reload{At: at, Refused: "listen.control: this change needs a restart"}) {
		t.Fatalf("after a refused reload: %+v", got)
	}
}

func TestInviteWithoutEnrollment(t *testing.T) {
	a := &consoleActions{}
	if _, err := a.Invite(context.Background(), "x", "staff", time.Hour); err == nil || !strings.Contains(err.Error(), "no enrollment API") {
		t.Fatalf("invite without p2s.enroll: %v", err)
	}
}
