package linkbind

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"

	"golang.zx2c4.com/wireguard/conn"
)

func TestOutboxBoundAndCopy(t *testing.T) {
	o := newOutbox(3, newBufPool())
	msgs := [][]byte{[]byte("a"), []byte("bb"), []byte("ccc"), []byte("dddd")}
	if q := o.push(msgs); q != 3 {
		t.Fatalf("queued %d, want 3 (the bound)", q)
	}
	if q := o.push(msgs[:1]); q != 0 {
		t.Fatalf("queued %d into a full queue", q)
	}
	msgs[0][0] = 'X'
	big := bytes.Repeat([]byte{1}, pooledSize+10)
	batch := o.take(nil)
	if len(batch) != 3 || string(*batch[0]) != "a" || string(*batch[2]) != "ccc" {
		t.Fatalf("took %d messages, first %q", len(batch), *batch[0])
	}
	o.release(batch)
	if q := o.push([][]byte{big}); q != 1 {
		t.Fatal("a large message was not queued")
	}
	if !o.wait(context.Background(), nil) {
		t.Fatal("wait with a queued message returned false")
	}
	if b := o.take(batch); len(b) != 1 || !bytes.Equal(*b[0], big) {
		t.Fatal("large message changed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o.push(msgs[:1])
	o.discard()
	if o.wait(ctx, nil) {
		t.Fatal("wait on an empty queue with a cancelled context returned true")
	}
}

func TestInboxBatchesAndCloses(t *testing.T) {
	pool := newBufPool()
	in := newInbox(16, pool)
	ep := &Endpoint{scheme: "x"}
	ctx := context.Background()
	for i := range 5 {
		if !in.deliver(ctx, bytes.Repeat([]byte{byte(i)}, 10+i), ep) {
			t.Fatal("deliver failed")
		}
	}
	// One buffer too small: its message is reported with size 0.
	bufs := [][]byte{make([]byte, 100), make([]byte, 5), make([]byte, 100)}
	sizes := make([]int, 3)
	eps := make([]conn.Endpoint, 3)
	n, err := in.receive(bufs, sizes, eps)
	if err != nil || n != 3 {
		t.Fatalf("receive = %d, %v; want 3", n, err)
	}
	if sizes[0] != 10 || sizes[1] != 0 || sizes[2] != 12 || eps[0] != ep {
		t.Fatalf("sizes %v", sizes)
	}
	n, err = in.receive(bufs, sizes, eps)
	if err != nil || n != 2 || sizes[0] != 13 || sizes[1] != 0 {
		t.Fatalf("second receive = %d, %v, sizes %v", n, err, sizes)
	}
	in.close()
	if _, err := in.receive(bufs, sizes, eps); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("receive after close: %v", err)
	}
	full := newInbox(1, pool)
	full.deliver(ctx, []byte("a"), ep)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if full.deliver(cctx, []byte("b"), ep) {
		t.Fatal("deliver into a full inbox with a cancelled context succeeded")
	}
}
