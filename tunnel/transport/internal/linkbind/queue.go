package linkbind

import (
	"context"
	"net"
	"sync"

	"golang.zx2c4.com/wireguard/conn"
)

// pooledSize is the capacity of pooled message buffers: a full-size
// WireGuard message over a 1500-byte underlay plus room for jumbo-ish
// inner MTUs. Larger messages get buffers of their own.
const pooledSize = 2048

// bufPool recycles message copies so that the hot path does not allocate.
type bufPool struct{ p sync.Pool }

func newBufPool() *bufPool {
	return &bufPool{p: sync.Pool{New: func() any {
		b := make([]byte, pooledSize)
		return &b
	}}}
}

// copyOf returns a buffer holding a copy of msg.
func (p *bufPool) copyOf(msg []byte) *[]byte {
	if len(msg) > pooledSize {
		b := append([]byte(nil), msg...)
		return &b
	}
	b := p.p.Get().(*[]byte)
	*b = (*b)[:len(msg)]
	copy(*b, msg)
	return b
}

func (p *bufPool) put(b *[]byte) {
	if cap(*b) == pooledSize {
		p.p.Put(b)
	}
}

// inbound is one received message waiting for a ReceiveFunc.
type inbound struct {
	buf *[]byte
	ep  conn.Endpoint
}

// inbox gathers the messages of every link of a session for the one
// ReceiveFunc. It is bounded: readers wait when it is full, which leaves the
// loss to the transport's own receive queue rather than growing memory.
type inbox struct {
	ch     chan inbound
	closed chan struct{}
	pool   *bufPool
}

func newInbox(size int, pool *bufPool) *inbox {
	return &inbox{ch: make(chan inbound, size), closed: make(chan struct{}), pool: pool}
}

// deliver queues a copy of msg from ep. It waits while the inbox is full and
// reports false once ctx is done.
func (in *inbox) deliver(ctx context.Context, msg []byte, ep conn.Endpoint) bool {
	m := inbound{buf: in.pool.copyOf(msg), ep: ep}
	select {
	case in.ch <- m:
		return true
	default:
	}
	select {
	case in.ch <- m:
		return true
	case <-ctx.Done():
		in.pool.put(m.buf)
		return false
	}
}

// close makes receive return net.ErrClosed.
func (in *inbox) close() { close(in.closed) }

// receive is the session's conn.ReceiveFunc: it waits for one message, then
// takes whatever else is already queued, up to len(bufs).
func (in *inbox) receive(bufs [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	select {
	case m := <-in.ch:
		in.fill(m, bufs, sizes, eps, 0)
	case <-in.closed:
		return 0, net.ErrClosed
	}
	n := 1
	for n < len(bufs) {
		select {
		case m := <-in.ch:
			in.fill(m, bufs, sizes, eps, n)
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

func (in *inbox) fill(m inbound, bufs [][]byte, sizes []int, eps []conn.Endpoint, i int) {
	if len(*m.buf) > len(bufs[i]) {
		sizes[i] = 0
	} else {
		sizes[i] = copy(bufs[i], *m.buf)
		eps[i] = m.ep
	}
	in.pool.put(m.buf)
}

// outbox is the bounded send queue of one link. Send copies into it and
// never waits; the link's writer takes everything queued at once.
type outbox struct {
	mu      sync.Mutex
	pending []*[]byte
	limit   int
	signal  chan struct{}
	pool    *bufPool
}

func newOutbox(limit int, pool *bufPool) *outbox {
	return &outbox{limit: limit, signal: make(chan struct{}, 1), pool: pool, pending: make([]*[]byte, 0, limit)}
}

// push queues copies of bufs and returns how many were queued; the rest
// were dropped because the queue was full.
func (o *outbox) push(bufs [][]byte) (queued int) {
	o.mu.Lock()
	for _, b := range bufs {
		if len(o.pending) >= o.limit {
			break
		}
		o.pending = append(o.pending, o.pool.copyOf(b))
		queued++
	}
	o.mu.Unlock()
	if queued > 0 {
		select {
		case o.signal <- struct{}{}:
		default:
		}
	}
	return queued
}

// take swaps the queued messages out, giving spare (emptied) in their place.
func (o *outbox) take(spare []*[]byte) []*[]byte {
	o.mu.Lock()
	batch := o.pending
	o.pending = spare[:0]
	o.mu.Unlock()
	return batch
}

// wait blocks until something is queued; false if ctx or stop ended first.
func (o *outbox) wait(ctx context.Context, stop <-chan struct{}) bool {
	for {
		o.mu.Lock()
		n := len(o.pending)
		o.mu.Unlock()
		if n > 0 {
			return true
		}
		select {
		case <-o.signal:
		case <-ctx.Done():
			return false
		case <-stop:
			return false
		}
	}
}

// release returns the buffers of a taken batch to the pool.
func (o *outbox) release(batch []*[]byte) {
	for i, b := range batch {
		o.pool.put(b)
		batch[i] = nil
	}
}

// discard drops everything queued.
func (o *outbox) discard() {
	o.release(o.take(nil))
}
