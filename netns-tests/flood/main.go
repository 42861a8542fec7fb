// Command flood is the attacker of the admission tests: it holds many idle
// TCP connections to one address, sending nothing, and opens a new one
// whenever the other end closes one, for a bounded time.
//
//	flood --to ADDR:PORT --conns N --for D [--pause P]
//
// At the end it prints "connects=N failed_dials=N closed_by_peer=N
// max_open=N".
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	to := flag.String("to", "", "address to connect to")
	conns := flag.Int("conns", 2000, "connections to hold (at most 20000)")
	dur := flag.Duration("for", 30*time.Second, "how long to hold them (at most 5m)")
	pause := flag.Duration("pause", 250*time.Millisecond, "wait between a close and the next dial of one connection")
	flag.Parse()
	if *to == "" || *conns < 1 || *conns > 20000 || *dur <= 0 || *dur > 5*time.Minute || *pause < 10*time.Millisecond {
		fmt.Fprintln(os.Stderr, "flood: --to ADDR:PORT, 1 <= --conns <= 20000, 0 < --for <= 5m, --pause >= 10ms")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	deadline, _ := ctx.Deadline()
	var connects, failed, closed, open, maxOpen atomic.Int64
	var wg sync.WaitGroup
	for range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: 2 * time.Second}
			buf := make([]byte, 1)
			for ctx.Err() == nil {
				c, err := d.DialContext(ctx, "tcp", *to)
				if err != nil {
					failed.Add(1)
				} else {
					connects.Add(1)
					n := open.Add(1)
					for m := maxOpen.Load(); n > m && !maxOpen.CompareAndSwap(m, n); m = maxOpen.Load() {
					}
					_ = c.SetReadDeadline(deadline)
					if _, err := c.Read(buf); err != nil {
						if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
							closed.Add(1)
						}
					}
					c.Close()
					open.Add(-1)
				}
				select {
				case <-ctx.Done():
				case <-time.After(*pause):
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("connects=%d failed_dials=%d closed_by_peer=%d max_open=%d\n", connects.Load(), failed.Load(), closed.Load(), maxOpen.Load())
}
