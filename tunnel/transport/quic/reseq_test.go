package quic

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/device"
)

// dataMsg is a WireGuard data message header with an empty payload.
func dataMsg(receiver uint32, counter uint64) []byte {
	m := make([]byte, device.MessageTransportSize)
	binary.LittleEndian.PutUint32(m, device.MessageTransportType)
	binary.LittleEndian.PutUint32(m[device.MessageTransportOffsetReceiver:], receiver)
	binary.LittleEndian.PutUint64(m[device.MessageTransportOffsetCounter:], counter)
	return m
}

// describe names a message for comparisons: "r/c" for data messages,
// "other" for anything else.
func describe(m []byte) string {
	if len(m) >= device.MessageTransportSize && binary.LittleEndian.Uint32(m) == device.MessageTransportType {
		return fmt.Sprintf("%d/%d", binary.LittleEndian.Uint32(m[4:]), binary.LittleEndian.Uint64(m[8:]))
	}
	return "other"
}

type collector struct {
	mu  sync.Mutex
	got []string
}

func (c *collector) deliver(m []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, describe(m))
}

func (c *collector) snapshot() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

// testHold is long enough that a loaded machine does not let it pass
// between a push and the check of what was delivered at once.
const testHold = 300 * time.Millisecond

func TestResequencer(t *testing.T) {
	handshake := make([]byte, 148)
	binary.LittleEndian.PutUint32(handshake, 1)
	type step struct {
		msg  []byte
		wait bool // before pushing msg, wait until all pushed so far is delivered
	}
	d := func(r uint32, c uint64) step { return step{msg: dataMsg(r, c)} }
	late := func(s step) step { s.wait = true; return s }
	for _, tc := range []struct {
		name  string
		steps []step
		now   []string // delivered right after the last push
		later []string // delivered once the hold time has passed
	}{
		{"in order", []step{d(7, 0), d(7, 1), d(7, 2)}, []string{"7/0", "7/1", "7/2"}, nil},
		{"first counter need not be 0", []step{d(7, 40), d(7, 41)}, []string{"7/40", "7/41"}, nil},
		{"swapped runs are put back in order",
			[]step{d(7, 0), d(7, 3), d(7, 4), d(7, 1), d(7, 2), d(7, 5)},
			[]string{"7/0", "7/1", "7/2", "7/3", "7/4", "7/5"}, nil},
		{"a gap is given up after the hold time",
			[]step{d(7, 0), d(7, 2), d(7, 3)},
			[]string{"7/0"}, []string{"7/0", "7/2", "7/3"}},
		{"a message later than the hold time still goes out",
			[]step{d(7, 0), d(7, 2), late(d(7, 1)), d(7, 3)},
			[]string{"7/0", "7/2", "7/1", "7/3"}, nil},
		{"other message types pass while data waits",
			[]step{d(7, 0), d(7, 2), {msg: handshake}, {msg: []byte{4, 0, 0}}},
			[]string{"7/0", "other", "other"}, []string{"7/0", "other", "other", "7/2"}},
		{"a new session releases what waits for the old one",
			[]step{d(7, 0), d(7, 2), d(9, 100), d(9, 101)},
			[]string{"7/0", "7/2", "9/100", "9/101"}, nil},
		{"duplicates are not held", []step{d(7, 0), d(7, 2), d(7, 2), d(7, 0)},
			[]string{"7/0", "7/2", "7/0"}, []string{"7/0", "7/2", "7/0", "7/2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &collector{}
			r := newResequencer(c.deliver, testHold)
			defer r.stop()
			// Everything comes on the first of two stripes: the second is
			// never heard from, so only the hold time settles a gap.
			first := r.addStripe()
			r.addStripe()
			for i, s := range tc.steps {
				if s.wait {
					deadline := time.Now().Add(5 * time.Second)
					for len(c.snapshot()) < i && time.Now().Before(deadline) {
						time.Sleep(10 * time.Millisecond)
					}
				}
				r.push(first, s.msg)
			}
			if got := c.snapshot(); !slices.Equal(got, tc.now) {
				t.Fatalf("delivered %v, want %v", got, tc.now)
			}
			want := tc.later
			if want == nil {
				want = tc.now
			}
			deadline := time.Now().Add(5 * time.Second)
			for !slices.Equal(c.snapshot(), want) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if got := c.snapshot(); !slices.Equal(got, want) {
				t.Fatalf("after the hold time: delivered %v, want %v", got, want)
			}
		})
	}
}

func TestResequencerStripes(t *testing.T) {
	// on pushes data message receiver/counter as it arrives on a stripe.
	type push struct {
		stripe   int
		receiver uint32
		counter  uint64
	}
	on := func(stripe int, receiver uint32, counter uint64) push { return push{stripe, receiver, counter} }
	for _, tc := range []struct {
		name   string
		pushes []push
		want   []string // delivered at once, without the hold time
	}{
		{"runs swapped between stripes are put back in order",
			[]push{on(0, 3, 0), on(0, 3, 1), on(0, 3, 4), on(0, 3, 5), on(1, 3, 2), on(1, 3, 3), on(1, 3, 6)},
			[]string{"3/0", "3/1", "3/2", "3/3", "3/4", "3/5", "3/6"}},
		{"a run lost on one stripe is given up once every stripe is past it",
			[]push{on(0, 3, 0), on(0, 3, 1), on(0, 3, 4), on(0, 3, 5), on(1, 3, 6), on(1, 3, 7), on(0, 3, 8)},
			[]string{"3/0", "3/1", "3/4", "3/5", "3/6", "3/7", "3/8"}},
		{"a gap waits while a stripe still may carry it",
			[]push{on(0, 3, 0), on(0, 3, 1), on(0, 3, 4), on(1, 3, 2), on(0, 3, 5), on(0, 3, 6)},
			[]string{"3/0", "3/1", "3/2"}},
		{"a new session forgets the stripes' counters",
			[]push{on(0, 3, 0), on(1, 3, 1), on(0, 3, 2), on(1, 4, 100), on(0, 4, 102)},
			[]string{"3/0", "3/1", "3/2", "4/100"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &collector{}
			r := newResequencer(c.deliver, time.Hour)
			defer r.stop()
			r.addStripe()
			r.addStripe()
			for _, p := range tc.pushes {
				r.push(p.stripe, dataMsg(p.receiver, p.counter))
			}
			if got := c.snapshot(); !slices.Equal(got, tc.want) {
				t.Fatalf("delivered %v, want %v", got, tc.want)
			}
		})
	}
}

func TestResequencerBounds(t *testing.T) {
	c := &collector{}
	r := newResequencer(c.deliver, testHold)
	stripe := r.addStripe()
	r.addStripe()
	r.push(stripe, dataMsg(1, 0))
	for i := range holdMax {
		r.push(stripe, dataMsg(1, uint64(2+i)))
	}
	// Reaching holdMax releases everything at once, without waiting.
	if got := c.snapshot(); len(got) != holdMax+1 || got[holdMax] != fmt.Sprintf("1/%d", holdMax+1) {
		t.Fatalf("%d delivered, last %v; want %d ending with 1/%d", len(got), got[len(got)-1], holdMax+1, holdMax+1)
	}
	r.push(stripe, dataMsg(1, uint64(holdMax+3)))
	r.stop()
	if got := c.snapshot(); len(got) != holdMax+2 {
		t.Fatalf("stop released %d messages in all, want %d", len(got), holdMax+2)
	}
	r.push(stripe, dataMsg(1, uint64(holdMax+2)))
	time.Sleep(2 * testHold)
	if got := c.snapshot(); len(got) != holdMax+2 {
		t.Fatalf("a push after stop was delivered (%d messages)", len(got))
	}
}
