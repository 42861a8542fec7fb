package netlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a long-running command inside a host, started by Host.Start.
// Its standard output and error are kept in memory; the lab stops it at
// cleanup and, when the test failed, logs the tail of its output.
type Process struct {
	host *Host
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	err  error // set before done is closed

	stopOnce sync.Once
}

// Start starts name with args inside the host and returns at once. The
// process runs until it exits, Stop is called, or the lab is torn down.
func (h *Host) Start(name string, args ...string) *Process {
	h.lab.t.Helper()
	buf := &lockedBuffer{}
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.ns, name}, args...)...)
	cmd.Stdout, cmd.Stderr = buf, buf
	if err := cmd.Start(); err != nil {
		h.lab.t.Fatalf("netlab: start %s on host %s: %v", name, h.name, err)
	}
	p := &Process{host: h, name: name, cmd: cmd, out: buf, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	h.lab.mu.Lock()
	h.lab.procs = append(h.lab.procs, p)
	h.lab.mu.Unlock()
	return p
}

// Pid returns the process id ("ip netns exec" replaces itself with the command).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output returns everything the process wrote to stdout and stderr so far.
func (p *Process) Output() string { return p.out.String() }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Signal sends sig to the process.
func (p *Process) Signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return fmt.Errorf("signal %v to %s on host %s: process already exited: %v", sig, p.name, p.host.name, p.err)
	default:
	}
	return p.cmd.Process.Signal(sig)
}

// Wait waits until the process exits or ctx ends and returns its exit error.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("waiting for %s on host %s: %w", p.name, p.host.name, ctx.Err())
	}
}

// Stop asks the process to end (SIGTERM), kills it if it is still there
// after grace, and returns its exit error unless that error is only the
// SIGTERM or SIGKILL Stop sent.
func (p *Process) Stop(grace time.Duration) error {
	p.stop(grace)
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() &&
			(ws.Signal() == syscall.SIGTERM || ws.Signal() == syscall.SIGKILL) {
			return nil
		}
	}
	if p.err != nil {
		return fmt.Errorf("%s on host %s: %w; output:\n%s", p.name, p.host.name, p.err, tail(p.Output(), 4096))
	}
	return nil
}

func (p *Process) stop(grace time.Duration) {
	p.stopOnce.Do(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(grace):
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		}
		if p.host.lab.t.Failed() {
			p.host.lab.t.Logf("netlab: output of %s on host %s:\n%s", p.name, p.host.name, tail(p.Output(), 4096))
		}
	})
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// lockedBuffer is a bytes.Buffer safe for the writer goroutines of exec.Cmd
// and readers in the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Clone(b.buf.String())
}
