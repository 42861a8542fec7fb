package crlleader

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"intransit/internal/testutil/etcdtest"
	"intransit/internal/testutil/pkitest"
	"intransit/pki"
	"intransit/pki/admin"
	"intransit/pki/store"
)

// TestOneLeaderPublishes runs two candidates on one real etcd: exactly
// one signs and publishes, a Kick after a revocation publishes the new
// CRL, and when the leader stops the other takes over.
func TestOneLeaderPublishes(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{})
	ca := pkitest.NewCA(t, pki.InitOptions{Name: "leader"})
	dir := t.TempDir()
	var cands [2]*Leader
	var cancels [2]context.CancelFunc
	var dones [2]chan struct{}
	for i := range cands {
		cands[i] = New(Config{Client: c.Client(), Key: "/leader-test/crl", Name: []string{"a", "b"}[i], Signer: ca,
			Pub: &admin.CRLFiles{Paths: []string{filepath.Join(dir, []string{"a", "b"}[i]+".crl")}}, TTL: time.Second})
		ctx, cancel := context.WithCancel(t.Context())
		cancels[i], dones[i] = cancel, make(chan struct{})
		go func() { defer close(dones[i]); cands[i].Run(ctx) }()
	}
	defer func() {
		for i := range cands {
			cancels[i]()
			<-dones[i]
		}
	}()
	lead := waitLeader(t, cands[:])
	other := 1 - lead
	checkElected(t, cands[lead], cands[lead].Name, true)
	checkElected(t, cands[other], cands[lead].Name, false)
	first := waitFile(t, filepath.Join(dir, []string{"a", "b"}[lead]+".crl"), nil)
	if _, err := os.Stat(filepath.Join(dir, []string{"a", "b"}[other]+".crl")); err == nil {
		t.Fatal("the candidate not elected published a CRL")
	}
	is, err := ca.Issue(t.Context(), pki.Request{Profile: pki.ProfileClient, Name: "x"}, pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Revoke(t.Context(), is.Certificate.SerialNumber, store.ReasonUnspecified); err != nil {
		t.Fatal(err)
	}
	cands[lead].Kick()
	waitFile(t, filepath.Join(dir, []string{"a", "b"}[lead]+".crl"), first)
	cands[other].Kick() // not leading: publishes nothing
	cancels[lead]()
	<-dones[lead]
	if cands[lead].Leading() {
		t.Fatal("a stopped candidate still leads")
	}
	if got := waitLeader(t, cands[:]); got != other {
		t.Fatalf("candidate %d leads after %d stopped", got, lead)
	}
	checkElected(t, cands[other], cands[other].Name, true)
	checkElected(t, cands[lead], cands[other].Name, false)
	waitFile(t, filepath.Join(dir, []string{"a", "b"}[other]+".crl"), nil)
}

// waitLeader waits until exactly one candidate leads and returns it; the
// deadline only guards against a hang.
func waitLeader(t *testing.T, cands []*Leader) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		lead, n := -1, 0
		for i, c := range cands {
			if c.Leading() {
				lead, n = i, n+1
			}
		}
		if n > 1 {
			t.Fatal("two candidates lead at once")
		}
		if n == 1 {
			return lead
		}
		if time.Now().After(deadline) {
			t.Fatal("no candidate was elected")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitFile waits until path holds something other than old and returns it.
func waitFile(t *testing.T, path string, old []byte) []byte {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && len(b) > 0 && string(b) != string(old) {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never (re)written", path)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkElected fails unless c.Elected names want, with self as given.
func checkElected(t *testing.T, c *Leader, want string, self bool) {
	t.Helper()
	name, s, err := c.Elected(t.Context())
	if err != nil || name != want || s != self {
		t.Fatalf("candidate %s: Elected() = %q, self %v, %v; want %q, self %v", c.Name, name, s, err, want, self)
	}
}

// TestElectedWhileNoneIs: before any candidate of an election has won,
// Elected reads etcd and names none, without campaigning; once etcd is
// gone it fails rather than naming one.
func TestElectedWhileNoneIs(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{})
	cli := c.Client()
	l := New(Config{Client: cli, Key: "/leader-test/empty", Name: "idle"})
	checkElected(t, l, "", false)
	if resp, err := cli.Get(t.Context(), "/leader-test/empty", clientv3.WithPrefix()); err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("Elected wrote to the election: %v, %v", resp, err)
	}
	c.Kill(0)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if name, _, err := l.Elected(ctx); err == nil {
		t.Fatalf("Elected with etcd down named %q and no error", name)
	}
}
