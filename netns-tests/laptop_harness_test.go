package netnstests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"intransit/netns-tests/netlab"
	"intransit/p2s/client"
)

// laptop is one laptop host on a link of its own to a router, with its
// profiles and `intransit p2s connect` process: the laptops of the
// point-to-site lab (p2sLab.addLaptop) and of the fleet (fleetLaptop).
type laptop struct {
	t      testing.TB
	cli    string // the intransit binary
	name   string
	host   *netlab.Host
	link   *netlab.Link
	dir    string // its profiles
	resolv string // its resolv.conf (the namespaces share the mount namespace)
	proc   *netlab.Process
	// logs returns the gateways' logs, printed when a wait fails.
	logs func() string
}

// newLaptop adds host name to lab on a link of its own to router, in
// 198.51.<subnet>.0/24 (the router .254, the laptop .2 routing by it), its
// profiles and resolv.conf under dir.
func newLaptop(t testing.TB, lab *netlab.Lab, router *netlab.Host, subnet int, cli, dir, name string, logs func() string) *laptop {
	t.Helper()
	h := lab.Host(name)
	link := lab.Link(router, h)
	link.A.AddAddr(fmt.Sprintf("198.51.%d.254/24", subnet))
	link.B.AddAddr(fmt.Sprintf("198.51.%d.2/24", subnet))
	h.AddRoute("default", fmt.Sprintf("198.51.%d.254", subnet))
	lp := &laptop{t: t, cli: cli, name: name, host: h, link: link, dir: filepath.Join(dir, name), resolv: filepath.Join(dir, name+"-resolv.conf"), logs: logs}
	if err := os.WriteFile(lp.resolv, []byte("# "+name+"\nnameserver 192.0.2.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return lp
}

// enrollTo runs intransit p2s enroll at the gateway whose enrollment API
// listens on addr (port 8445), with the token on standard input, and
// returns its output and error.
func (lp *laptop) enrollTo(addr, token string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := lp.host.Command(ctx, lp.cli, "p2s", "enroll", "https://"+addr+":8445", "--token-file", "-", "--dir", lp.dir)
	cmd.Stdin = strings.NewReader(token + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("on %s: intransit p2s enroll at %s: %w: %s", lp.name, addr, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// connect starts the client, with extra flags if given.
func (lp *laptop) connect(extra ...string) {
	args := append([]string{"p2s", "connect", "--dir", lp.dir, "--dns", "resolv.conf", "--resolv-conf", lp.resolv}, extra...)
	lp.proc = lp.host.Start(lp.cli, args...)
}

// status reads the client's status (nil when it does not answer).
func (lp *laptop) status() *client.Status {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := client.GetStatus(ctx, filepath.Join(lp.dir, client.DefaultProfile))
	if err != nil {
		return nil
	}
	return st
}

// wait waits until cond holds for the client's status and returns it,
// failing the test with the client's and the gateways' logs after timeout.
func (lp *laptop) wait(timeout time.Duration, what string, cond func(*client.Status) bool) *client.Status {
	lp.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := lp.status()
		if st != nil && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			out := ""
			if lp.proc != nil {
				out = lp.proc.Output()
			}
			lp.t.Fatalf("%s: not %s within %s: %+v\nclient log:\n%s\n%s", lp.name, what, timeout, st, tail(out, 4000), lp.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitCut waits until the laptop's client is no longer connected: it says
// so in its status, or it exited (a revoked client stops).
func (lp *laptop) waitCut(timeout time.Duration) {
	lp.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if st := lp.status(); st != nil && st.State != client.StateConnected {
			return
		}
		select {
		case <-lp.proc.Done():
			return
		default:
		}
		if time.Now().After(deadline) {
			lp.t.Fatalf("%s: still connected after %s\n%s", lp.name, timeout, lp.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func connected(st *client.Status) bool {
	return st.State == client.StateConnected && st.Transport != ""
}

// ping reports whether the laptop reaches addr: three pings, tried up to
// three times (a transport probe may hold traffic back for a second or
// two). Use it where reaching is expected.
func (lp *laptop) ping(addr string) bool {
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := lp.host.Run(ctx, "ping", "-c", "3", "-i", "0.3", "-W", "1", addr)
		cancel()
		if err == nil {
			return true
		}
	}
	return false
}

// reaches reports whether any of five pings over 2.5 s is answered; use it
// where not reaching is expected.
func (lp *laptop) reaches(addr string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err := lp.host.Run(ctx, "ping", "-c", "5", "-i", "0.5", "-W", "2", addr)
	return err == nil
}
