package netlab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// captureDrain is how long Stop lets tcpdump catch up before ending it.
const captureDrain = 200 * time.Millisecond

// Capture is a running tcpdump on one interface, writing a pcap file.
type Capture struct {
	iface *Iface
	path  string
	proc  *Process

	once sync.Once
	err  error
}

// Capture starts tcpdump on the interface, writing every packet (full
// length) that matches the optional pcap filter expression to a file in the
// test's temporary directory, and returns once tcpdump is listening.
func (i *Iface) Capture(filter ...string) *Capture {
	t := i.host.lab.t
	t.Helper()
	RequireTools(t, "tcpdump")
	path := filepath.Join(t.TempDir(), fmt.Sprintf("%s-%s.pcap", i.host.name, i.name))
	args := append([]string{"-i", i.name, "-n", "-U", "--immediate-mode", "-s", "0", "-w", path}, filter...)
	c := &Capture{iface: i, path: path}
	c.proc = i.host.Start("tcpdump", args...)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(c.proc.Output(), "listening on") {
		select {
		case <-c.proc.Done():
			t.Fatalf("netlab: tcpdump on %s/%s exited: %v\n%s", i.host.name, i.name, c.proc.err, c.proc.Output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("netlab: tcpdump on %s/%s not listening after 10s:\n%s", i.host.name, i.name, c.proc.Output())
		}
	}
	i.host.lab.mu.Lock()
	i.host.lab.captures = append(i.host.lab.captures, c)
	i.host.lab.mu.Unlock()
	return c
}

// Path returns the pcap file the capture writes.
func (c *Capture) Path() string { return c.path }

// stop ends tcpdump (SIGINT makes it flush the file) and waits for it.
// It first gives tcpdump a moment to read packets that are already on the
// wire: a reply that arrived just before Stop (an ICMP error that ended a
// ping, say) is otherwise counted "received by filter" but never written.
func (c *Capture) stop() {
	c.once.Do(func() {
		time.Sleep(captureDrain)
		if err := c.proc.Signal(syscall.SIGINT); err != nil {
			c.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.proc.Wait(ctx); err != nil {
			c.err = fmt.Errorf("tcpdump: %w: %s", err, c.proc.Output())
		}
	})
}

// Stop ends the capture and returns the packets it saw.
func (c *Capture) Stop() *Pcap {
	t := c.iface.host.lab.t
	t.Helper()
	c.stop()
	if c.err != nil {
		t.Fatalf("netlab: capture on %s/%s: %v", c.iface.host.name, c.iface.name, c.err)
	}
	data, err := os.ReadFile(c.path)
	if err != nil {
		t.Fatalf("netlab: reading capture: %v", err)
	}
	p, err := ParsePcap(data)
	if err != nil {
		t.Fatalf("netlab: capture %s: %v", c.path, err)
	}
	return p
}
