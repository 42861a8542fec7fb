// Command flood is the attacker of the admission tests: it holds many idle
// TCP connections to one address, sending nothing, and opens a new one
// whenever the other end closes one, for a bounded time.
//
//	flood --to ADDR:PORT --conns N --for D [--pause P] [--from ADDR]
//
// --from binds the connections to a local address (bench/p2s.sh floods
// from 127.0.0.2, so that the gateway counts the attacker apart from the
// benchmark's clients on 127.0.0.1). At the end, or on SIGTERM or SIGINT,
// it prints "connects=N failed_dials=N closed_by_peer=N max_open=N".
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	to := flag.String("to", "", "address to connect to")
	conns := flag.Int("conns", 2000, "connections to hold (at most 20000)")
	dur := flag.Duration("for", 30*time.Second, "how long to hold them (at most 5m)")
	pause := flag.Duration("pause", 250*time.Millisecond, "wait between a close and the next dial of one connection")
	from := flag.String("from", "", "local address to connect from (any when empty)")
	flag.Parse()
	var local net.Addr
	if *from != "" {
		ip := net.ParseIP(*from)
		if ip == nil {
			fmt.Fprintf(os.Stderr, "flood: --from %q is not an IP address\n", *from)
			os.Exit(2)
		}
		local = &net.TCPAddr{IP: ip}
	}
	if *to == "" || *conns < 1 || *conns > 20000 || *dur <= 0 || *dur > 5*time.Minute || *pause < 10*time.Millisecond {
		fmt.Fprintln(os.Stderr, "flood: --to ADDR:PORT, 1 <= --conns <= 20000, 0 < --for <= 5m, --pause >= 10ms")
		os.Exit(2)
	}
	sig, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(sig, *dur)
	defer cancel()
	var connects, failed, closed, open, maxOpen atomic.Int64
	var wg sync.WaitGroup
	for range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: local}
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
					stopRead := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
					if _, err := c.Read(buf); err != nil && ctx.Err() == nil {
						closed.Add(1)
					}
					stopRead()
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
