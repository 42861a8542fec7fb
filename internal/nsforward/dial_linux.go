package nsforward

import (
	"context"
	"fmt"
	"net"
	"runtime"

	"golang.org/x/sys/unix"
)

// Dial connects to addr from inside the network namespace ns. The socket
// is made on a thread moved into ns for the call and belongs to ns from
// then on; the thread is moved back, or, if that fails, left locked so
// that the runtime retires it.
func Dial(ctx context.Context, ns, network, addr string) (net.Conn, error) {
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("nsforward: this thread's namespace: %w", err)
	}
	defer unix.Close(orig)
	target, err := unix.Open(nsPath(ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("nsforward: namespace %s: %w", ns, err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("nsforward: enter namespace %s: %w", ns, err)
	}
	var d net.Dialer
	c, dialErr := d.DialContext(ctx, network, addr)
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		// The thread stays in ns: keep it locked so that it dies with
		// this goroutine instead of running others in the wrong namespace.
		if c != nil {
			c.Close()
		}
		return nil, fmt.Errorf("nsforward: leave namespace %s: %w", ns, err)
	}
	runtime.UnlockOSThread()
	if dialErr != nil {
		return nil, fmt.Errorf("nsforward: %s in namespace %s: %w", addr, ns, dialErr)
	}
	return c, nil
}
