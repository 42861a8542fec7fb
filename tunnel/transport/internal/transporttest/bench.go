package transporttest

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"

	"intransit/tunnel/transport"
)

// BenchmarkThroughput measures one-way throughput from client to server on
// loopback: b.N messages of size bytes sent in batches of 64, like the
// device sends them, with at most 256 messages in flight (the transports
// drop what does not fit their queues, as a full UDP socket would). It
// reports the MB/s of messages received and the share of messages lost.
func BenchmarkThroughput(b *testing.B, server, client transport.Bind, size int) {
	fns, port, err := server.Open(0)
	if err != nil {
		b.Fatal(err)
	}
	defer server.Close()
	if _, _, err := client.Open(0); err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	var got atomic.Int64
	progress := make(chan struct{}, 1)
	for _, fn := range fns {
		go func() {
			bufs := make([][]byte, server.BatchSize())
			for i := range bufs {
				bufs[i] = make([]byte, 65535)
			}
			sizes := make([]int, len(bufs))
			eps := make([]conn.Endpoint, len(bufs))
			for {
				n, err := fn(bufs, sizes, eps)
				if err != nil {
					return
				}
				for i := range n {
					if sizes[i] > 0 {
						got.Add(1)
					}
				}
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		}()
	}
	ep, err := client.ParseEndpoint(client.Scheme() + "://127.0.0.1:" + strconv.Itoa(int(port)))
	if err != nil {
		b.Fatal(err)
	}
	// Connect first.
	msg := Message(1, size)
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() == 0 {
		if time.Now().After(deadline) {
			b.Fatal("no connection")
		}
		client.Send([][]byte{msg}, ep)
		time.Sleep(10 * time.Millisecond)
	}
	const batch, window = 64, 256
	bufs := make([][]byte, batch)
	for i := range bufs {
		bufs[i] = Message(uint32(i), size)
	}
	b.ResetTimer()
	began := time.Now()
	first := got.Load()
	// In flight is what was sent and has not arrived; messages lost on
	// the way would keep it up for ever, so after a pause without progress
	// they are written off.
	lost := int64(0)
	idle := time.NewTimer(time.Hour)
	inFlight := func(sent int64) int64 { return sent - (got.Load() - first) - lost }
	sent := int64(0)
	for sent < int64(b.N) {
		n := min(batch, b.N-int(sent))
		client.Send(bufs[:n], ep)
		sent += int64(n)
	wait:
		for inFlight(sent) > window {
			idle.Reset(50 * time.Millisecond)
			select {
			case <-progress:
			case <-idle.C:
				lost += inFlight(sent)
				break wait
			}
		}
	}
	last := time.Now()
	for inFlight(sent) > 0 {
		idle.Reset(500 * time.Millisecond)
		select {
		case <-progress:
			last = time.Now()
		case <-idle.C:
			lost += inFlight(sent)
		}
	}
	b.StopTimer()
	received := got.Load() - first
	b.ReportMetric(float64(received*int64(size))/last.Sub(began).Seconds()/1e6, "MB/s_received")
	b.ReportMetric(float64(int64(b.N)-received)/float64(b.N)*100, "%lost")
}
