package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"intransit/internal/nsforward"
)

// A kept demo (intransit demo --keep) leaves its namespaces, daemons and
// laptop running and records them in demoStateFile, which intransit demo
// --down reads to remove them. Gateway B's console listens on the
// loopback address of B's namespace; a forwarder process (intransit demo
// --forward-console NS) brings it to this machine's loopback.
const (
	demoStateFile = "/run/intransit-demo/state.json"
	// demoConsole is where gateway B's console listens in its namespace,
	// and the port the forwarder tries first on this machine.
	demoConsole = "127.0.0.1:9090"
)

// demoConsoleSection is gateway B's console, on its namespace's loopback.
const demoConsoleSection = "console: {listen: \"" + demoConsole + "\"}\n"

// demoState is what a kept demo leaves running.
type demoState struct {
	// Dir holds the configurations, keys and logs.
	Dir string `json:"dir"`
	// Namespaces are the demo's network namespaces, Pids its processes
	// (the daemons, the laptop's client and the console forwarder).
	Namespaces []string `json:"namespaces"`
	Pids       []int    `json:"pids"`
	// Console is the console's URL on this machine.
	Console string `json:"console"`
}

// keep hands the running demo over to --down: it starts the console
// forwarder, records the state and marks the demo kept so that its
// teardown leaves everything running. It returns the console's URL.
func (d *demoNet) keep(self string) (string, error) {
	ln, err := net.Listen("tcp", demoConsole)
	if err != nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return "", fmt.Errorf("console forwarder: %w", err)
		}
	}
	f, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		return "", fmt.Errorf("console forwarder: %w", err)
	}
	defer f.Close()
	logf, err := os.Create(filepath.Join(d.dir, "console-forward.log"))
	if err != nil {
		return "", err
	}
	defer logf.Close()
	fw := exec.Command(self, "demo", "--forward-console", d.nsName("gwb"))
	fw.ExtraFiles = []*os.File{f}
	fw.Stdout, fw.Stderr = logf, logf
	fw.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := fw.Start(); err != nil {
		return "", fmt.Errorf("console forwarder: %w", err)
	}
	st := demoState{Dir: d.dir, Namespaces: d.ns, Pids: []int{fw.Process.Pid}, Console: "http://" + ln.Addr().String() + "/"}
	for _, p := range d.procs {
		if p.Process != nil && p.ProcessState == nil {
			st.Pids = append(st.Pids, p.Process.Pid)
		}
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(demoStateFile, data, 0o600); err != nil {
		_ = fw.Process.Kill()
		return "", fmt.Errorf("recording the kept demo: %w", err)
	}
	_ = fw.Process.Release()
	d.kept = true
	return st.Console, nil
}

// checkNoKeptDemo refuses to start a kept demo while another one runs.
func checkNoKeptDemo() error {
	if err := os.MkdirAll(filepath.Dir(demoStateFile), 0o700); err != nil {
		return err
	}
	if _, err := os.Stat(demoStateFile); err == nil {
		return fmt.Errorf("a kept demo is running (%s): remove it first with intransit demo --down", demoStateFile)
	}
	return nil
}

// runDemoDown removes a kept demo: its processes (SIGTERM, SIGKILL after
// 10 s), its namespaces and its directory.
func runDemoDown(w io.Writer) error {
	data, err := os.ReadFile(demoStateFile)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintln(w, "no kept demo is running")
		return nil
	}
	if err != nil {
		return err
	}
	var st demoState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("%s: %w", demoStateFile, err)
	}
	for _, pid := range st.Pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range st.Pids {
		for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	d := &demoNet{ns: st.Namespaces}
	d.teardown()
	if err := os.RemoveAll(st.Dir); err != nil {
		return err
	}
	if err := os.Remove(demoStateFile); err != nil {
		return err
	}
	fmt.Fprintf(w, "the kept demo is removed: %d processes stopped, %d namespaces and %s deleted\n", len(st.Pids), len(st.Namespaces), st.Dir)
	return nil
}

// runConsoleForward serves the listener passed as file descriptor 3,
// forwarding to the console in namespace ns, until SIGTERM or SIGINT.
func runConsoleForward(ctx context.Context, ns string) error {
	f := os.NewFile(3, "console listener")
	if f == nil {
		return errors.New("--forward-console: no listener passed (it is started by intransit demo --keep)")
	}
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("--forward-console: %w", err)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return nsforward.Serve(ctx, ln, ns, demoConsole)
}
