package announce

import (
	"bytes"
	"encoding/hex"
	"net"
	"net/netip"
	"testing"
)

var (
	ours   = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	asker  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	client = netip.MustParseAddr("10.99.0.2")
	host   = netip.MustParseAddr("10.1.0.10")
)

func only(a netip.Addr) func(netip.Addr) bool { return func(b netip.Addr) bool { return a == b } }

func TestAnswer(t *testing.T) {
	req := frame(broadcast, asker, arpRequest, asker, host, make(net.HardwareAddr, 6), client)
	got := answer(req, ours, only(client))
	want := frame(asker, ours, arpReply, ours, client, asker, host)
	if !bytes.Equal(got, want) {
		t.Fatalf("reply\n got %x\nwant %x", got, want)
	}
	for name, tc := range map[string]struct {
		frame []byte
		owns  func(netip.Addr) bool
	}{
		"not ours":          {req, only(netip.MustParseAddr("10.99.0.3"))},
		"a reply":           {frame(ours, asker, arpReply, asker, host, ours, client), only(client)},
		"gratuitous":        {gratuitous(asker, client), only(client)},
		"short":             {req[:30], only(client)},
		"not ARP":           {append(append([]byte{}, req[:12]...), append([]byte{0x08, 0x00}, req[14:]...)...), only(client)},
		"not IPv4 over ARP": {append(append([]byte{}, req[:16]...), append([]byte{0x86, 0xdd}, req[18:]...)...), only(client)},
	} {
		if r := answer(tc.frame, ours, tc.owns); r != nil {
			t.Errorf("%s: answered %x", name, r)
		}
	}
}

func TestGratuitous(t *testing.T) {
	g := gratuitous(ours, client)
	// A broadcast ARP request from the client address for itself, at our
	// link address, as hosts update their caches from.
	want := "ffffffffffff" + "020000000001" + "0806" + "0001" + "0800" + "06" + "04" + "0001" +
		"020000000001" + "0a630002" + "000000000000" + "0a630002"
	if got := hex.EncodeToString(g); got != want {
		t.Fatalf("gratuitous ARP\n got %s\nwant %s", got, want)
	}
}
