package netnstests

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"intransit/netns-tests/netlab"
)

// TestS2SDemo runs `intransit s2s demo` (what `intransit demo` runs) with
// freshly built binaries: it must succeed, show the tunnel carrying pings
// and a transfer, find the marker on the site link and never on the WAN, and
// leave no namespace behind.
func TestS2SDemo(t *testing.T) {
	netlab.RequireRoot(t)
	netlab.RequireTools(t, "ip", "nft", "ping", "tcpdump", "iperf3", "ss")
	cli := netlab.GoBuild(t, "intransit/cmd/intransit", true)
	daemon := netlab.GoBuild(t, "intransit/cmd/intransitd", true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	before, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, cli, "s2s", "demo", "--intransitd", daemon).CombinedOutput()
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out)
	}
	for _, want := range []string{"tunnel up", "5 packets transmitted, 5 received", "receiver", "site-b  up", "the marker appears 0 times", "namespaces, links and daemons removed"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	after, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	if prefix := "itd"; strings.Count(string(after), prefix) > strings.Count(string(before), prefix) {
		t.Errorf("namespaces left behind:\n%s", after)
	}
}
