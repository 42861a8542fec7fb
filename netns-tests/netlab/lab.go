package netlab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// NamePrefix starts the name of every namespace a Lab creates.
const NamePrefix = "it-"

// commandTimeout bounds every helper command (ip, nft, tc...). They finish in
// milliseconds; a hang means something is badly wrong.
const commandTimeout = 30 * time.Second

// Lab is the set of namespaces, links and processes of one test. Create it
// with New; its methods fail the test (t.Fatal) when the kernel refuses a
// step, with the command and its output in the message.
type Lab struct {
	t      testing.TB
	prefix string

	mu       sync.Mutex
	hosts    map[string]*Host
	procs    []*Process
	captures []*Capture
}

// New returns an empty Lab for t and registers its teardown with t.Cleanup.
// It calls RequireRoot and RequireTools for the commands the harness uses,
// and removes stale namespaces of earlier runs (see Sweep).
func New(t testing.TB) *Lab {
	t.Helper()
	RequireRoot(t)
	RequireTools(t, "ip", "nft", "tc")
	if err := Sweep(context.Background()); err != nil {
		t.Logf("netlab: sweeping stale namespaces: %v", err)
	}
	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatalf("netlab: random name: %v", err)
	}
	l := &Lab{
		t:      t,
		prefix: fmt.Sprintf("%s%d-%s-", NamePrefix, os.Getpid(), hex.EncodeToString(rnd[:])),
		hosts:  map[string]*Host{},
	}
	t.Cleanup(l.teardown)
	return l
}

// Prefix returns the prefix of every namespace name of this lab.
func (l *Lab) Prefix() string { return l.prefix }

// T returns the test the lab belongs to.
func (l *Lab) T() testing.TB { return l.t }

// Host creates a network namespace for a host called name (letters, digits
// and '-'; unique in the lab) with its loopback up.
func (l *Lab) Host(name string) *Host {
	l.t.Helper()
	if name == "" || strings.ContainsAny(name, "/ \t\n") {
		l.t.Fatalf("netlab: invalid host name %q", name)
	}
	l.mu.Lock()
	if _, dup := l.hosts[name]; dup {
		l.mu.Unlock()
		l.t.Fatalf("netlab: host %q already exists in this lab", name)
	}
	h := &Host{lab: l, name: name, ns: l.prefix + name}
	l.hosts[name] = h
	l.mu.Unlock()
	l.mustCmd("ip", "netns", "add", h.ns)
	h.MustRun("ip", "link", "set", "lo", "up")
	return h
}

// teardown stops processes and captures, then deletes every namespace; the
// kernel removes the veth pairs, bridges, nftables rules and qdiscs with them.
func (l *Lab) teardown() {
	l.mu.Lock()
	procs, caps := l.procs, l.captures
	hosts := make([]*Host, 0, len(l.hosts))
	for _, h := range l.hosts {
		hosts = append(hosts, h)
	}
	l.mu.Unlock()
	for _, c := range caps {
		c.stop()
	}
	for _, p := range procs {
		p.stop(2 * time.Second)
	}
	for _, h := range hosts {
		if err := deleteNamespace(context.Background(), h.ns); err != nil {
			l.t.Errorf("netlab: cleanup of host %s: %v", h.name, err)
		}
	}
}

// deleteNamespace kills whatever still runs in ns and deletes it.
func deleteNamespace(ctx context.Context, ns string) error {
	out, err := command(ctx, nil, "ip", "netns", "pids", ns)
	if err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, perr := strconv.Atoi(f); perr == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if _, err := command(ctx, nil, "ip", "netns", "del", ns); err != nil {
		if _, statErr := os.Stat("/run/netns/" + ns); errors.Is(statErr, os.ErrNotExist) {
			return nil
		}
		return err
	}
	return nil
}

// Sweep deletes namespaces named by a Lab of a process that no longer exists
// (NamePrefix, then the pid). New calls it; it is exported for tools that
// clean a machine after interrupted runs.
func Sweep(ctx context.Context) error {
	out, err := command(ctx, nil, "ip", "netns", "list")
	if err != nil {
		return err
	}
	var errs []error
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], NamePrefix) {
			continue
		}
		name := f[0]
		pidPart, _, ok := strings.Cut(strings.TrimPrefix(name, NamePrefix), "-")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(pidPart)
		if err != nil || processAlive(pid) {
			continue
		}
		if err := deleteNamespace(ctx, name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// mustCmd runs a command in the test's own namespace and fails the test on error.
func (l *Lab) mustCmd(name string, args ...string) []byte {
	l.t.Helper()
	out, err := command(context.Background(), nil, name, args...)
	if err != nil {
		l.t.Fatalf("netlab: %v", err)
	}
	return out
}

// command runs name with args (bounded by commandTimeout) and returns its
// combined output; the error names the command and quotes its output.
func command(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

func contextWithTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), commandTimeout)
}
