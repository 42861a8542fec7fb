package netnstests

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"intransit/netns-tests/netlab"
)

// TestS2SDemo runs `intransit s2s demo` (what `intransit demo` runs) with
// freshly built binaries: it must succeed, show the tunnel carrying pings
// and a transfer, a laptop enrolled and connected to gateway B reaching
// site B, the marker on the site link and never on the WAN or the laptop's
// link, and leave no namespace behind.
func TestS2SDemo(t *testing.T) {
	t.Parallel()
	netlab.RequireRoot(t)
	netlab.RequireTools(t, "ip", "nft", "ping", "tcpdump", "iperf3", "ss")
	cli := netlab.GoBuild(t, "intransit/cmd/intransit", true)
	daemon := netlab.GoBuild(t, "intransit/cmd/intransitd", true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var buf bytes.Buffer
	cmd := exec.CommandContext(ctx, cli, "s2s", "demo", "--intransitd", daemon)
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The demo names its namespaces itd<its pid mod 100000>-<host>: only
	// those are its own (other tests run beside this one).
	prefix := fmt.Sprintf("itd%d-", cmd.Process.Pid%100000)
	err := cmd.Wait()
	out := buf.Bytes()
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out)
	}
	for _, want := range []string{"tunnel up", "5 packets transmitted, 5 received", "receiver", "site-b  up",
		"enrolled as laptop (group staff", "laptop connected over udp, address 10.9.0.1", "laptop  staff  10.9.0.1   udp",
		"WAN link:", "laptop link:", "namespaces, links and daemons removed"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(string(out), "the marker appears 0 times"); n != 2 {
		t.Errorf("the marker is in the clear on the WAN or the laptop's link (%d of 2 captures clean):\n%s", n, out)
	}
	after, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(after), "\n") {
		if strings.HasPrefix(line, prefix) {
			t.Errorf("namespace left behind: %s", line)
		}
	}
}
