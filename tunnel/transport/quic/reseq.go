package quic

import (
	"encoding/binary"
	"math"
	"slices"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/device"
)

// The stripes of a link deliver concurrently, so WireGuard data messages
// that left in order can arrive out of order where the sender moved from
// one stripe to the next. WireGuard accepts that (its replay window is
// thousands of messages wide), but the inner TCP takes reordering for loss:
// it retransmits and shrinks its window. A resequencer puts the data
// messages of a link back in the order of their counters (sent in the
// clear), holding an early message until the ones before it arrive. Other
// message types, and data messages under another receiver index than the
// latest, pass straight through.
//
// A gap is given up, and the messages after it go out in order, as soon as
// it is known to be loss: each stripe carries its messages in counter order
// (the sender sends in counter order, a QUIC connection delivers its
// datagrams in the order received, and quic-go drops, never reorders, when
// its receive queue is full), so a counter below the latest one of every
// stripe will not arrive any more. With runs of stripeRun messages per
// stripe, that is known within about one round of runs. A gap that the
// stripes cannot settle (a stripe that carries nothing, a message lost
// last) is given up after holdTime, or when holdMax messages wait.

// holdTime bounds how long a message waits for an earlier one. A stripe's
// reader that is runnable can wait for a whole 10 ms time slice of the Go
// scheduler on a loaded machine; with 2 ms, the inner TCP still saw three
// times as many spurious retransmissions (BENCHMARKS.md, "Transports").
const holdTime = 10 * time.Millisecond

// holdMax bounds how many messages wait at once.
const holdMax = 1024

type heldMsg struct {
	counter uint64
	msg     []byte
}

// resequencer orders the data messages handed to deliver. Its methods are
// safe for concurrent use.
type resequencer struct {
	deliver func([]byte)
	hold    time.Duration

	mu       sync.Mutex
	receiver uint32
	next     uint64
	started  bool
	held     []heldMsg // sorted by counter
	timer    *time.Timer
	stopped  bool
	stripes  int
	// latest is, per stripe, the highest counter it delivered under
	// receiver; valid for the stripes set in heard.
	latest [MaxStripes]uint64
	heard  [MaxStripes]bool
}

func newResequencer(deliver func([]byte), hold time.Duration) *resequencer {
	r := &resequencer{deliver: deliver, hold: hold}
	r.timer = time.AfterFunc(time.Hour, r.expire)
	r.timer.Stop()
	return r
}

// addStripe registers a stripe and returns its number for push. At most
// MaxStripes are registered.
func (r *resequencer) addStripe() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stripes++
	return r.stripes - 1
}

// push delivers msg, which arrived on stripe, and what it completes, in
// order; or holds it.
func (r *resequencer) push(stripe int, msg []byte) {
	if len(msg) < device.MessageTransportSize || binary.LittleEndian.Uint32(msg) != device.MessageTransportType {
		r.deliver(msg)
		return
	}
	receiver := binary.LittleEndian.Uint32(msg[device.MessageTransportOffsetReceiver:])
	counter := binary.LittleEndian.Uint64(msg[device.MessageTransportOffsetCounter:])
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	if !r.started || receiver != r.receiver {
		// A new session (or the first): what waits for the old one will
		// not be completed.
		r.flushLocked()
		r.started, r.receiver, r.next = true, receiver, counter
		r.heard = [MaxStripes]bool{}
	}
	if !r.heard[stripe] || counter > r.latest[stripe] {
		r.heard[stripe], r.latest[stripe] = true, counter
	}
	switch {
	case counter < r.next:
		r.deliver(msg)
	case counter == r.next:
		r.deliver(msg)
		r.next++
		r.releaseLocked()
	default:
		i, found := slices.BinarySearchFunc(r.held, counter, func(h heldMsg, c uint64) int {
			switch {
			case h.counter < c:
				return -1
			case h.counter > c:
				return 1
			}
			return 0
		})
		if found {
			r.deliver(msg) // a duplicate: WireGuard's replay filter drops it
			return
		}
		if len(r.held) == 0 {
			r.timer.Reset(r.hold)
		}
		r.held = slices.Insert(r.held, i, heldMsg{counter, msg})
		if len(r.held) >= holdMax {
			r.flushLocked()
			return
		}
		r.releaseLocked()
	}
}

// settledLocked returns the counter below which every stripe has moved
// on, so below which nothing more will arrive; 0 while a stripe has not
// been heard from under the current receiver index.
func (r *resequencer) settledLocked() uint64 {
	if r.stripes == 0 {
		return 0
	}
	low := uint64(math.MaxUint64)
	for i := range r.stripes {
		if !r.heard[i] {
			return 0
		}
		low = min(low, r.latest[i])
	}
	return low
}

// releaseLocked delivers the held messages that are next in order, and
// those before which every missing message is known lost.
func (r *resequencer) releaseLocked() {
	settled := r.settledLocked()
	n := 0
	for n < len(r.held) && (r.held[n].counter <= r.next || r.held[n].counter <= settled) {
		r.next = max(r.next, r.held[n].counter+1)
		r.deliver(r.held[n].msg)
		n++
	}
	if n == 0 {
		return
	}
	r.dropHeadLocked(n)
}

// flushLocked gives up on the gap: every held message goes out in order.
func (r *resequencer) flushLocked() {
	if len(r.held) == 0 {
		return
	}
	for _, h := range r.held {
		r.deliver(h.msg)
	}
	r.next = r.held[len(r.held)-1].counter + 1
	r.dropHeadLocked(len(r.held))
}

func (r *resequencer) dropHeadLocked(n int) {
	clear(r.held[:n])
	r.held = append(r.held[:0], r.held[n:]...)
	if len(r.held) == 0 {
		r.timer.Stop()
	} else {
		r.timer.Reset(r.hold)
	}
}

func (r *resequencer) expire() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopped {
		r.flushLocked()
	}
}

// stop delivers what is held and makes push and the timer do nothing more.
func (r *resequencer) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flushLocked()
	r.stopped = true
	r.timer.Stop()
}
