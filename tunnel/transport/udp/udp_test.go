package udp

import (
	"bytes"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"
)

func TestParseEndpoint(t *testing.T) {
	b := New()
	for _, tc := range []struct {
		in, want string
		bad      bool
	}{
		{in: "192.0.2.1:51821", want: "192.0.2.1:51821"},
		{in: "udp://192.0.2.1:9", want: "192.0.2.1:9"},
		{in: "192.0.2.1", want: "192.0.2.1:51820"},
		{in: "[2001:db8::1]:443", want: "[2001:db8::1]:443"},
		{in: "2001:db8::1", want: "[2001:db8::1]:51820"},
		{in: "quic://192.0.2.1:443", bad: true},
		{in: "gw.example:51820", bad: true},
		{in: "", bad: true},
	} {
		ep, err := b.ParseEndpoint(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseEndpoint(%q) = %v, want an error", tc.in, ep.DstToString())
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseEndpoint(%q): %v", tc.in, err)
			continue
		}
		if got := ep.DstToString(); got != tc.want {
			t.Errorf("ParseEndpoint(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if !b.Owns(ep) {
			t.Errorf("Owns(ParseEndpoint(%q)) = false", tc.in)
		}
	}
}

// TestLoopbackBatch sends a full batch between two Binds on loopback and
// checks every message arrives intact, one per buffer, with an endpoint
// that answers the sender.
func TestLoopbackBatch(t *testing.T) {
	a, b := New(), New()
	fnsA, portA, err := a.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	fnsB, portB, err := b.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if portA == 0 || portB == 0 {
		t.Fatalf("ports %d %d", portA, portB)
	}
	got := make(chan []byte, 1024)
	eps := make(chan conn.Endpoint, 1024)
	for _, fn := range fnsB {
		go receiveAll(b, fn, got, eps)
	}
	for _, fn := range fnsA {
		go receiveAll(a, fn, got, nil)
	}
	epB, err := a.ParseEndpoint("127.0.0.1:" + itoa(portB))
	if err != nil {
		t.Fatal(err)
	}
	const n = 64
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = bytes.Repeat([]byte{byte(i)}, 1200)
	}
	seen := map[byte]bool{}
	deadline := time.After(10 * time.Second)
	// UDP on loopback can still drop under load; resend until all arrived.
	for round := 0; len(seen) < n; round++ {
		if round == 50 {
			t.Fatalf("after %d rounds only %d of %d messages arrived", round, len(seen), n)
		}
		if err := a.Send(bufs, epB); err != nil {
			t.Fatal(err)
		}
	drain:
		for {
			select {
			case m := <-got:
				if len(m) != 1200 || !bytes.Equal(m, bytes.Repeat(m[:1], 1200)) {
					t.Fatalf("message of %d bytes mangled", len(m))
				}
				seen[m[0]] = true
			case <-time.After(200 * time.Millisecond):
				break drain
			case <-deadline:
				t.Fatalf("timed out with %d of %d messages", len(seen), n)
			}
		}
	}
	ep := <-eps
	if !b.Owns(ep) || ep.DstToString() != "127.0.0.1:"+itoa(portA) {
		t.Fatalf("receive endpoint %q, want 127.0.0.1:%d", ep.DstToString(), portA)
	}
}

func receiveAll(b *Bind, fn conn.ReceiveFunc, got chan<- []byte, eps chan<- conn.Endpoint) {
	bufs := make([][]byte, b.BatchSize())
	for i := range bufs {
		bufs[i] = make([]byte, 65535)
	}
	sizes := make([]int, len(bufs))
	endpoints := make([]conn.Endpoint, len(bufs))
	for {
		n, err := fn(bufs, sizes, endpoints)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			panic("udp receive: " + err.Error())
		}
		for i := range n {
			if sizes[i] == 0 {
				continue
			}
			got <- append([]byte(nil), bufs[i][:sizes[i]]...)
			if eps != nil {
				select {
				case eps <- endpoints[i]:
				default:
				}
			}
		}
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }
