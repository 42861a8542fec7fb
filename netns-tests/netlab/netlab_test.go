package netlab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// ping runs a bounded ping from h and reports whether it got answers.
func ping(h *Host, args ...string) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := h.Run(ctx, "ping", append([]string{"-n", "-q"}, args...)...)
	return string(out), err == nil
}

func namespaces(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	return string(out)
}

func TestTwoHostsIPv4AndIPv6(t *testing.T) {
	lab := New(t)
	a, b := lab.Host("a"), lab.Host("b")
	l := lab.Link(a, b)
	l.A.AddAddr("192.0.2.1/24")
	l.B.AddAddr("192.0.2.2/24")
	l.A.AddAddr("2001:db8::1/64")
	l.B.AddAddr("2001:db8::2/64")
	for _, c := range []struct {
		from *Host
		to   string
	}{{a, "192.0.2.2"}, {b, "192.0.2.1"}, {a, "2001:db8::2"}, {b, "2001:db8::1"}} {
		if out, ok := ping(c.from, "-c1", "-W3", c.to); !ok {
			t.Errorf("ping %s from %s failed:\n%s", c.to, c.from.Name(), out)
		}
	}
	if !strings.Contains(namespaces(t), a.Namespace()) {
		t.Errorf("namespace %s not listed", a.Namespace())
	}
}

// natTopology builds laptop -- nat -- server with the NAT masquerading
// towards the server.
func natTopology(lab *Lab) (laptop, nat, server *Host, wan *Link) {
	laptop, nat, server = lab.Host("laptop"), lab.Host("nat"), lab.Host("server")
	lan := lab.Link(laptop, nat)
	wan = lab.Link(nat, server)
	lan.A.AddAddr("192.168.1.2/24")
	lan.B.AddAddr("192.168.1.1/24")
	wan.A.AddAddr("198.51.100.1/24")
	wan.B.AddAddr("198.51.100.2/24")
	laptop.AddRoute("default", "192.168.1.1")
	nat.Masquerade(wan.A)
	return laptop, nat, server, wan
}

func TestNATAndCapture(t *testing.T) {
	lab := New(t)
	laptop, _, server, wan := natTopology(lab)
	capture := wan.B.Capture("icmp")
	// ping -p fills the payload with the pattern: a marker to find on the wire.
	if out, ok := ping(laptop, "-c2", "-W3", "-p", "6e65746c61626d61726b", "198.51.100.2"); !ok {
		t.Fatalf("laptop cannot reach the server through the NAT:\n%s", out)
	}
	p := capture.Stop()
	if !p.Contains([]byte("netlabmark")) {
		t.Errorf("capture of %d packets does not contain the ping pattern", len(p.Packets))
	}
	sawNAT := false
	for _, pk := range p.Packets {
		if pk.Src.Addr().String() == "192.168.1.2" {
			t.Errorf("private address leaked past the NAT: %v", pk.Src)
		}
		if pk.Proto == "icmp" && pk.Src.Addr().String() == "198.51.100.1" {
			sawNAT = true
		}
	}
	if !sawNAT {
		t.Errorf("no ICMP from the NAT's public address in %v", p.Flows())
	}
	if out, ok := ping(server, "-c1", "-W1", "192.168.1.2"); ok {
		t.Errorf("server reached the laptop behind the NAT:\n%s", out)
	}
}

func TestSwitchConnectsSeveralHosts(t *testing.T) {
	lab := New(t)
	sw := lab.Switch("lan")
	hosts := []*Host{lab.Host("h1"), lab.Host("h2"), lab.Host("h3")}
	for i, h := range hosts {
		sw.Attach(h).AddAddr("10.9.0." + string(rune('1'+i)) + "/24")
	}
	for _, dst := range []string{"10.9.0.2", "10.9.0.3"} {
		if out, ok := ping(hosts[0], "-c1", "-W3", dst); !ok {
			t.Errorf("ping %s across the switch failed:\n%s", dst, out)
		}
	}
}

func TestLossBlockAndMTU(t *testing.T) {
	lab := New(t)
	a, b := lab.Host("a"), lab.Host("b")
	l := lab.Link(a, b)
	l.A.AddAddr("192.0.2.1/24")
	l.B.AddAddr("192.0.2.2/24")

	all := l.B.Loss(100)
	if out, ok := ping(a, "-c2", "-W1", "192.0.2.2"); ok {
		t.Errorf("ping passed a link with 100%% loss:\n%s", out)
	}
	all.Remove()
	// The lost ARP replies left a FAILED neighbour entry; start afresh.
	a.MustRun("ip", "neigh", "flush", "dev", l.A.Name())
	if out, ok := ping(a, "-c1", "-W3", "192.0.2.2"); !ok {
		t.Errorf("ping failed after removing the loss:\n%s", out)
	}

	half := l.B.Loss(50)
	out, _ := ping(a, "-c200", "-i0.005", "-W1", "192.0.2.2")
	half.Remove()
	a.MustRun("ip", "neigh", "flush", "dev", l.A.Name())
	var sent, received int
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "packets transmitted") {
			parseCounts(line, &sent, &received)
		}
	}
	// 200 pings through a 50% loss each way: the chance to leave [5, 120] is
	// far below 1e-9.
	if sent != 200 || received < 5 || received > 120 {
		t.Errorf("50%% loss: sent %d, received %d:\n%s", sent, received, out)
	}

	icmp := b.Block("icmp", 0)
	if out, ok := ping(a, "-c1", "-W1", "192.0.2.2"); ok {
		t.Errorf("ping passed a host blocking icmp:\n%s", out)
	}
	icmp.Remove()

	l.A.SetMTU(1280)
	if out, ok := ping(a, "-c1", "-W1", "-M", "do", "-s", "1400", "192.0.2.2"); ok {
		t.Errorf("1428-byte unfragmentable packet passed a 1280 MTU:\n%s", out)
	}
	if out, ok := ping(a, "-c1", "-W3", "-M", "do", "-s", "1200", "192.0.2.2"); !ok {
		t.Errorf("1228-byte packet did not pass a 1280 MTU:\n%s", out)
	}

	l.A.RateLimit("10mbit")
	if q := a.MustRun("tc", "qdisc", "show", "dev", l.A.Name()); !strings.Contains(q, "tbf") {
		t.Errorf("no tbf qdisc after RateLimit: %s", q)
	}
	l.A.ClearRateLimit()
}

func parseCounts(line string, sent, received *int) {
	f := strings.Fields(line)
	for i := 1; i < len(f); i++ {
		switch strings.TrimSuffix(f[i], ",") {
		case "transmitted":
			*sent = atoi(f[i-2])
		case "received":
			*received = atoi(f[i-1])
		}
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return n
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func TestDropPacketTooBig(t *testing.T) {
	lab := New(t)
	a, r, b := lab.Host("a"), lab.Host("r"), lab.Host("b")
	ar, rb := lab.Link(a, r), lab.Link(r, b)
	ar.A.AddAddr("10.1.0.2/24")
	ar.B.AddAddr("10.1.0.1/24")
	rb.A.AddAddr("10.2.0.1/24")
	rb.B.AddAddr("10.2.0.2/24")
	a.AddRoute("10.2.0.0/24", "10.1.0.1")
	b.AddRoute("10.1.0.0/24", "10.2.0.1")
	r.EnableForwarding()
	rb.A.SetMTU(1280)

	fragNeeded := func() int {
		c := ar.A.Capture("icmp")
		ping(a, "-c1", "-W1", "-M", "do", "-s", "1400", "10.2.0.2")
		n := 0
		for _, pk := range c.Stop().Packets {
			// ICMP type 3 (unreachable) code 4 (fragmentation needed).
			if pk.Proto == "icmp" && len(pk.Payload) >= 2 && pk.Payload[0] == 3 && pk.Payload[1] == 4 {
				n++
			}
		}
		return n
	}
	if n := fragNeeded(); n == 0 {
		t.Fatalf("router sent no fragmentation-needed message for a too-big packet")
	}
	r.DropPacketTooBig()
	if n := fragNeeded(); n != 0 {
		t.Errorf("%d fragmentation-needed messages passed DropPacketTooBig", n)
	}
}

func TestProcessStartAndStop(t *testing.T) {
	lab := New(t)
	h := lab.Host("h")
	p := h.Start("sh", "-c", "echo started; ip -o link show lo; exec sleep 60")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.Output(), "lo:") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(p.Output(), "started") || !strings.Contains(p.Output(), "lo:") {
		t.Fatalf("process output %q", p.Output())
	}
	if err := p.Stop(time.Second); err != nil {
		t.Errorf("Stop: %v", err)
	}
	select {
	case <-p.Done():
	default:
		t.Errorf("process still running after Stop")
	}
}

func TestCleanupEvenAfterPanic(t *testing.T) {
	RequireRoot(t)
	var prefix string
	t.Run("inner", func(t *testing.T) {
		lab := New(t)
		lab.Host("x")
		lab.Host("y").Start("sleep", "60")
		prefix = lab.Prefix()
	})
	if strings.Contains(namespaces(t), prefix) {
		t.Errorf("namespaces with prefix %s remain after the test ended", prefix)
	}

	// A panicking test: run this test binary again with only the helper
	// below, which builds a lab and panics.
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPanics$", "-test.v")
	cmd.Env = append(os.Environ(), "NETLAB_HELPER_PANIC=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("panicking helper exited 0:\n%s", out)
	}
	var helperPrefix string
	for _, line := range strings.Split(string(out), "\n") {
		if _, p, ok := strings.Cut(line, "prefix="); ok {
			helperPrefix = strings.TrimSpace(p)
		}
	}
	if helperPrefix == "" || !bytes.Contains(out, []byte("panic: deliberate")) {
		t.Fatalf("helper did not report its prefix and panic:\n%s", out)
	}
	if strings.Contains(namespaces(t), helperPrefix) {
		t.Errorf("namespaces with prefix %s remain after a panicking test", helperPrefix)
	}
}

// TestHelperPanics is run by TestCleanupEvenAfterPanic in a child process.
func TestHelperPanics(t *testing.T) {
	if os.Getenv("NETLAB_HELPER_PANIC") != "1" {
		t.Skip("helper for TestCleanupEvenAfterPanic; runs only in its child process")
	}
	lab := New(t)
	l := lab.Link(lab.Host("p"), lab.Host("q"))
	l.A.AddAddr("192.0.2.1/24")
	os.Stdout.WriteString("prefix=" + lab.Prefix() + "\n")
	panic("deliberate")
}

func TestParsePcapRejectsGarbage(t *testing.T) {
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"short", []byte{1, 2, 3}},
		{"magic", make([]byte, 24)},
		{"truncated record", append([]byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0}, 1, 2, 3)},
	} {
		if _, err := ParsePcap(c.data); err == nil {
			t.Errorf("%s: ParsePcap accepted it", c.name)
		}
	}
}

func TestSweepRemovesNamespacesOfDeadRuns(t *testing.T) {
	RequireRoot(t)
	// A pid that existed and is gone: that of a finished child.
	child := exec.Command("true")
	if err := child.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("%s%d-dead00-h", NamePrefix, child.Process.Pid)
	live := fmt.Sprintf("%s%d-live00-h", NamePrefix, os.Getpid())
	for _, ns := range []string{stale, live} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
		}
	}
	t.Cleanup(func() {
		for _, ns := range []string{stale, live} {
			_ = exec.Command("ip", "netns", "del", ns).Run()
		}
	})
	if err := Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	list := namespaces(t)
	if strings.Contains(list, stale) {
		t.Errorf("Sweep left %s of a dead process", stale)
	}
	if !strings.Contains(list, live) {
		t.Errorf("Sweep removed %s of a running process", live)
	}
}

// udpPcap is a little-endian pcap file with one Ethernet frame: IPv4
// 10.0.0.1:51820 -> 10.0.0.2:51820 UDP with a 2-byte payload "wg".
func udpPcap() []byte {
	hdr := []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0}
	frame := append(make([]byte, 12), 0x08, 0x00, 0x45, 0, 0, 30, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
		0xca, 0x6c, 0xca, 0x6c, 0, 10, 0, 0, 'w', 'g')
	rec := []byte{0, 0, 0, 0, 0, 0, 0, 0, byte(len(frame)), 0, 0, 0, byte(len(frame)), 0, 0, 0}
	return append(append(hdr, rec...), frame...)
}

func TestParsePcapDecodesUDP(t *testing.T) {
	p, err := ParsePcap(udpPcap())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Packets) != 1 {
		t.Fatalf("%d packets, want 1", len(p.Packets))
	}
	pk := p.Packets[0]
	if pk.Network != "ip4" || pk.Proto != "udp" || pk.Src.String() != "10.0.0.1:51820" || pk.Dst.String() != "10.0.0.2:51820" || string(pk.Payload) != "wg" {
		t.Errorf("decoded %+v", pk)
	}
	if fl := p.Flows(); len(fl) != 1 || fl[0].String() != "udp/51820" || p.Count("udp", 51820) != 1 || !p.Contains([]byte("wg")) {
		t.Errorf("flows %v, count %d", fl, p.Count("udp", 51820))
	}
}

// FuzzParsePcap feeds arbitrary files to the capture parser: it must return
// an error or packets, never panic, and every packet's payload must lie
// inside its frame.
func FuzzParsePcap(f *testing.F) {
	f.Add(udpPcap())
	f.Add(udpPcap()[:24])
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePcap(data)
		if err != nil {
			return
		}
		for _, pk := range p.Packets {
			if len(pk.Payload) > len(pk.Data) {
				t.Fatalf("payload of %d bytes in a frame of %d", len(pk.Payload), len(pk.Data))
			}
		}
		p.Flows()
	})
}
