// Package etcdtest runs real etcd servers for tests: one member or a
// cluster of several, on loopback ports picked for the test, with data in
// t.TempDir(), optionally serving TLS with client certificates. Members
// are killed at cleanup.
//
// The etcd binary comes from Debian's etcd-server package. Without it a
// test is skipped with one line, or fails when CI=true (a skip in CI is a
// failure).
package etcdtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TLS is the material of a cluster that serves TLS to its clients and
// requires their certificates (PEM files).
type TLS struct {
	// CA is the bundle that client certificates must chain to.
	CA string
	// Cert and Key are the members' server certificate (for 127.0.0.1) and
	// key.
	Cert, Key string
	// Client is what the helper itself connects with: a client certificate
	// and the CAs of the server certificate.
	Client *tls.Config
}

// Options describe a cluster.
type Options struct {
	// Members is the number of members (1 when 0).
	Members int
	// TLS, when set, makes the members serve TLS to clients and require a
	// client certificate; peers talk plain HTTP on loopback.
	TLS *TLS
}

// Cluster is a running etcd cluster.
type Cluster struct {
	t       testing.TB
	bin     string
	opts    Options
	members []*Member
}

// Member is one etcd process.
type Member struct {
	name         string
	dir, log     string
	client, peer string // URLs
	args         []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Binary returns the path of the etcd binary, skipping the test (failing
// it when CI=true) when it is not installed.
func Binary(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("etcd")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("etcd is not installed (apt-get install etcd-server); CI requires it")
		}
		t.Skip("etcd is not installed (apt-get install etcd-server); skipping the tests against a real etcd")
	}
	return p
}

// Start starts a cluster and waits until it answers; it is killed when the
// test ends.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	bin := Binary(t)
	if opts.Members == 0 {
		opts.Members = 1
	}
	c := &Cluster{t: t, bin: bin, opts: opts}
	scheme := "http"
	if opts.TLS != nil {
		scheme = "https"
	}
	root := t.TempDir()
	var initial []string
	for i := range opts.Members {
		m := &Member{
			name:   fmt.Sprintf("m%d", i),
			dir:    filepath.Join(root, fmt.Sprintf("m%d", i)),
			log:    filepath.Join(root, fmt.Sprintf("m%d.log", i)),
			client: scheme + "://" + freeAddr(t),
			peer:   "http://" + freeAddr(t),
		}
		initial = append(initial, m.name+"="+m.peer)
		c.members = append(c.members, m)
	}
	token := fmt.Sprintf("etcdtest-%d-%d", os.Getpid(), time.Now().UnixNano())
	for _, m := range c.members {
		m.args = []string{
			"--name", m.name, "--data-dir", m.dir,
			"--listen-client-urls", m.client, "--advertise-client-urls", m.client,
			"--listen-peer-urls", m.peer, "--initial-advertise-peer-urls", m.peer,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", token,
			"--logger", "zap", "--log-level", "warn",
			"--heartbeat-interval", "50", "--election-timeout", "500",
		}
		if opts.TLS != nil {
			m.args = append(m.args, "--cert-file", opts.TLS.Cert, "--key-file", opts.TLS.Key,
				"--trusted-ca-file", opts.TLS.CA, "--client-cert-auth")
		}
	}
	t.Cleanup(c.stop)
	for _, m := range c.members {
		c.start(m)
	}
	c.WaitHealthy()
	return c
}

// freeAddr returns a loopback address with a port free at the time of the
// call.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("etcdtest: pick a port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (c *Cluster) start(m *Member) {
	c.t.Helper()
	logf, err := os.OpenFile(m.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		c.t.Fatalf("etcdtest: %v", err)
	}
	cmd := exec.Command(c.bin, m.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		c.t.Fatalf("etcdtest: start %s: %v", c.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	m.mu.Lock()
	m.cmd, m.done = cmd, done
	m.mu.Unlock()
}

// Endpoints are the client URLs of every member.
func (c *Cluster) Endpoints() []string {
	out := make([]string, len(c.members))
	for i, m := range c.members {
		out[i] = m.client
	}
	return out
}

// Member returns member i.
func (c *Cluster) Member(i int) *Member { return c.members[i] }

// Endpoint is the member's client URL.
func (m *Member) Endpoint() string { return m.client }

// Client returns a client of the given endpoints (every member's when
// none), closed when the test ends.
func (c *Cluster) Client(endpoints ...string) *clientv3.Client {
	c.t.Helper()
	if len(endpoints) == 0 {
		endpoints = c.Endpoints()
	}
	cfg := clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
	if c.opts.TLS != nil {
		cfg.TLS = c.opts.TLS.Client
	}
	cl, err := clientv3.New(cfg)
	if err != nil {
		c.t.Fatalf("etcdtest: client: %v", err)
	}
	c.t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// WaitHealthy waits until every running member answers a linearizable
// read, failing the test after 30 s with the members' logs.
func (c *Cluster) WaitHealthy() {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, m := range c.members {
		if !m.Running() {
			continue
		}
		cl := c.Client(m.client)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := cl.Get(ctx, "etcdtest-health")
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) || !m.Running() {
				c.t.Fatalf("etcdtest: member %s did not become healthy: %v\n%s", m.name, err, c.logs())
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = cl.Close()
	}
}

// Running reports whether the member's process is alive.
func (m *Member) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done == nil {
		return false
	}
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

// Kill kills member i with SIGKILL and waits for it to exit.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	m := c.members[i]
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		c.t.Fatalf("etcdtest: kill %s: %v", m.name, err)
	}
	<-done
}

// Restart starts a killed member again on its data directory and ports and
// waits until the cluster answers.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	m := c.members[i]
	if m.Running() {
		c.t.Fatalf("etcdtest: member %s is running", m.name)
	}
	c.start(m)
	c.WaitHealthy()
}

func (c *Cluster) stop() {
	for i := range c.members {
		c.Kill(i)
	}
	if c.t.Failed() {
		c.t.Logf("etcd logs:\n%s", c.logs())
	}
}

// logs returns the tail of every member's log.
func (c *Cluster) logs() string {
	var b strings.Builder
	for _, m := range c.members {
		data, _ := os.ReadFile(m.log)
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "--- %s (%s)\n%s\n", m.name, m.log, data)
	}
	return b.String()
}

// Leader returns the index of the member that leads the cluster now.
func (c *Cluster) Leader() int {
	c.t.Helper()
	cl := c.Client()
	defer cl.Close()
	for i, m := range c.members {
		if !m.Running() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := cl.Status(ctx, m.client)
		cancel()
		if err != nil {
			c.t.Fatalf("etcdtest: status of %s: %v", m.name, err)
		}
		if st.Leader == st.Header.MemberId {
			return i
		}
	}
	c.t.Fatal("etcdtest: no member leads")
	return -1
}
