// Package nsforward carries TCP connections into another network
// namespace: Dial opens a connection from inside a namespace (named as
// `ip netns` names it, or by path), and Serve forwards every connection
// accepted on a listener of this namespace to an address inside another.
// It lets a browser of the machine reach a console that listens on the
// loopback address of a gateway's namespace (the demo, the browser test).
package nsforward

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// dialTimeout bounds one connection into the namespace.
const dialTimeout = 5 * time.Second

// nsPath returns the path of a namespace given by name or path.
func nsPath(ns string) string {
	if strings.Contains(ns, "/") {
		return ns
	}
	return filepath.Join("/run/netns", ns)
}

// Serve accepts connections on ln until ctx ends (then closes ln) and
// copies each both ways to addr inside the network namespace ns; a
// connection that cannot be made there is closed.
func Serve(ctx context.Context, ln net.Listener, ns, addr string) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			dctx, cancel := context.WithTimeout(ctx, dialTimeout)
			up, err := Dial(dctx, ns, "tcp", addr)
			cancel()
			if err != nil {
				return
			}
			defer up.Close()
			pipe(ctx, c, up)
		}()
	}
}

// pipe copies a to b and b to a until both directions end or ctx does.
func pipe(ctx context.Context, a, b net.Conn) {
	stop := context.AfterFunc(ctx, func() { a.Close(); b.Close() })
	defer stop()
	done := make(chan struct{}, 2)
	copyHalf := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go copyHalf(a, b)
	go copyHalf(b, a)
	<-done
	<-done
}
