package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// requestTimeout bounds one exchange on the socket.
const requestTimeout = 5 * time.Second

// Listen creates the socket at path: its directory is created 0700 when
// missing (and refused when others may write to it), a stale socket file
// is replaced, and the socket itself is made 0600 before it accepts.
func Listen(path string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("status socket directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("status socket directory: %w", err)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("status socket directory %s is writable by others (mode %s)", dir, fi.Mode().Perm())
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale status socket: %w", err)
	}
	// A new socket is at most 0755 under the usual umask: connecting needs
	// write permission, so nobody but root can use it before the chmod.
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("status socket: %w", err)
	}
	return ln, nil
}

// Serve answers every connection on ln with report() as JSON until ctx
// ends, then closes ln. Each connection gets one report and is closed.
func Serve(ctx context.Context, ln net.Listener, report func() Report, log *slog.Logger) error {
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
			return fmt.Errorf("status socket: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(requestTimeout))
			if err := json.NewEncoder(c).Encode(report()); err != nil {
				log.Debug("status report not sent", "error", err.Error())
			}
		}()
	}
}

// Get reads one report from the socket at path.
func Get(ctx context.Context, path string) (*Report, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("status socket %s: %w (is intransitd running, and are you root?)", path, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	var r Report
	if err := json.NewDecoder(c).Decode(&r); err != nil {
		return nil, fmt.Errorf("status socket %s: reading the report: %w", path, err)
	}
	return &r, nil
}
