package netnstests

import (
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestS2SSdNotify runs intransitd as systemd would, with NOTIFY_SOCKET and
// WATCHDOG_USEC set, and reads what it tells systemd: READY=1 with a STATUS
// once the gateway runs, WATCHDOG=1 at least every half watchdog period,
// RELOADING=1 then READY=1 around a SIGHUP, and STOPPING=1 on SIGTERM.
func TestS2SSdNotify(t *testing.T) {
	t.Parallel()
	l := newS2SLab(t)
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	b := startGateway(t, l.gwB, l.bin, l.cfgB.write(t, l.pki, l.dirB))
	a := startGateway(t, l.gwA, l.bin, l.cfgA.write(t, l.pki, l.dirA), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=1000000")
	a.waitUp("site-b", 20*time.Second)

	var msgs []string
	read := func(until string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		buf := make([]byte, 4096)
		for {
			if err := conn.SetReadDeadline(deadline); err != nil {
				t.Fatal(err)
			}
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("no %q within %s; got %q\n%s", until, within, msgs, a.proc.Output())
			}
			msg := string(buf[:n])
			msgs = append(msgs, msg)
			if strings.Contains(msg, until) {
				return
			}
		}
	}
	read("READY=1", 10*time.Second)
	if !strings.Contains(msgs[len(msgs)-1], "STATUS=") {
		t.Errorf("READY without STATUS: %q", msgs[len(msgs)-1])
	}
	start := len(msgs)
	read("WATCHDOG=1", 2*time.Second)
	read("WATCHDOG=1", 2*time.Second)
	if got := len(msgs) - start; got > 4 {
		t.Logf("%d messages between two watchdog pings: %q", got, msgs[start:])
	}
	if err := a.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	read("RELOADING=1", 5*time.Second)
	if !strings.Contains(msgs[len(msgs)-1], "MONOTONIC_USEC=") {
		t.Errorf("RELOADING without MONOTONIC_USEC: %q", msgs[len(msgs)-1])
	}
	read("READY=1", 5*time.Second)
	rep := a.status()
	if len(rep.Peers) != 1 || rep.Peers[0].State != "up" || rep.Peers[0].Sessions != 1 {
		t.Errorf("an unchanged reload disturbed the tunnel: %+v", rep.Peers)
	}
	if err := a.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	read("STOPPING=1", 10*time.Second)
	<-a.proc.Done()
	b.stop()
}
