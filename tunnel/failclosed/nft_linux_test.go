package failclosed_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"intransit/netns-tests/netlab"
	"intransit/tunnel/failclosed"
	"intransit/tunnel/failclosed/failclosedtest"
)

// TestNFTContract runs the Kernel contract against nftables in a fresh
// network namespace.
func TestNFTContract(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t)
	h := lab.Host("nft")
	failclosedtest.Run(t, failclosed.NFT{Command: h.Command}, "itd0", "itc-0")
}

// TestNFTBlocks checks what the tables do to real packets, locally
// generated, in a namespace with a route to a guarded prefix over a veth
// link: guarded traffic is rejected with ICMP admin-prohibited and never
// reaches the link, lifting the block lets it through, and a lockdown
// leaves only loopback and the exempt address.
func TestNFTBlocks(t *testing.T) {
	t.Parallel()
	lab := netlab.New(t)
	a, b := lab.Host("a"), lab.Host("b")
	link := lab.Link(a, b)
	link.A.AddAddr("10.0.0.1/24")
	link.B.AddAddr("10.0.0.2/24")
	link.B.AddAddr("10.2.0.5/24")
	a.AddRoute("10.2.0.0/24", "10.0.0.2")
	k := failclosed.NFT{Command: a.Command}
	w := failclosed.NewWall(k, "itd0")
	ctx := context.Background()
	// Pings to the guarded prefix carry the marker "failclosed".
	ping := func(dst string) (string, bool) {
		t.Helper()
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		pattern := "00"
		if strings.HasPrefix(dst, "10.2.") {
			pattern = "6661696c636c6f736564"
		}
		out, err := a.Run(pctx, "ping", "-n", "-c", "2", "-i", "0.2", "-W", "1", "-p", pattern, dst)
		return string(out), err == nil
	}
	if out, ok := ping("10.2.0.5"); !ok {
		t.Fatalf("no ping before the block:\n%s", out)
	}
	if err := w.Apply(ctx, failclosed.Policy{Guards: []failclosed.Guard{{Name: "site-b", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")}}}}); err != nil {
		t.Fatal(err)
	}
	capture := link.B.Capture("icmp")
	out, ok := ping("10.2.0.5")
	if ok || !strings.Contains(out, "Packet filtered") {
		t.Errorf("guarded ping: ok=%v, want rejected with admin-prohibited (\"Packet filtered\"):\n%s", ok, out)
	}
	if out, ok := ping("10.0.0.2"); !ok {
		t.Errorf("a ping outside the guarded prefixes was blocked:\n%s", out)
	}
	blocks := w.Blocks(ctx, func(string) (bool, string) { return false, "test" })
	if len(blocks) != 1 || blocks[0].Rejected < 2 {
		t.Errorf("blocks after 2 guarded pings: %+v", blocks)
	} else {
		t.Logf("the table counted %d rejected packets", blocks[0].Rejected)
	}
	pc := capture.Stop()
	if pc.Contains([]byte("failclosed")) {
		t.Errorf("the guarded ping reached the link")
	}
	if len(pc.Packets) == 0 {
		t.Errorf("the capture saw nothing, not even the unguarded ping")
	}
	lock := failclosed.Policy{Lockdown: true, Exempt: []netip.Addr{netip.MustParseAddr("10.0.0.2")}}
	if err := w.Apply(ctx, lock); err != nil {
		t.Fatal(err)
	}
	if out, ok := ping("10.2.0.5"); ok || !strings.Contains(out, "Packet filtered") {
		t.Errorf("lockdown let a ping to 10.2.0.5 out:\n%s", out)
	}
	for _, dst := range []string{"10.0.0.2", "127.0.0.1"} {
		if out, ok := ping(dst); !ok {
			t.Errorf("lockdown blocked %s:\n%s", dst, out)
		}
	}
	if err := w.Lift(ctx); err != nil {
		t.Fatal(err)
	}
	// The positive control: the same capture sees the marker unguarded.
	capture = link.B.Capture("icmp")
	if out, ok := ping("10.2.0.5"); !ok {
		t.Errorf("no ping after the block was lifted:\n%s", out)
	}
	if !capture.Stop().Contains([]byte("failclosed")) {
		t.Errorf("the capture misses the marker of an unguarded ping: it proves nothing")
	}
}
