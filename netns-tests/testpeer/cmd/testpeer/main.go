// Command testpeer runs one tunnel endpoint for the end-to-end tests: it
// reads a testpeer configuration file, opens the tunnel device in the
// current network namespace (start it with "ip netns exec"), serves the
// control socket and runs until SIGINT or SIGTERM, then closes the device.
//
//	testpeer --config peer.yaml --control peer.sock [--log-level debug] [--cpu-profile FILE]
//
// --cpu-profile writes a CPU profile of the whole run (bench/tunnel.sh -P:
// where the packet path spends its CPU, to compare with wireguard-go's).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"intransit/netns-tests/testpeer"
	"intransit/tunnel"
)

func main() {
	configPath := flag.String("config", "", "configuration file (YAML)")
	control := flag.String("control", "", "path of the control socket to create")
	level := flag.String("log-level", "info", "log level: debug, info, warn, error")
	cpuProfile := flag.String("cpu-profile", "", "write a CPU profile of the run to this file")
	flag.Parse()
	if err := profiled(*cpuProfile, func() error { return run(*configPath, *control, *level) }); err != nil {
		fmt.Fprintln(os.Stderr, "testpeer:", err)
		os.Exit(2)
	}
}

// profiled runs f, under the CPU profiler writing to path unless path is
// empty.
func profiled(path string, f func() error) error {
	if path == "" {
		return f()
	}
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--cpu-profile: %w", err)
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		out.Close()
		return fmt.Errorf("--cpu-profile: %w", err)
	}
	runErr := f()
	pprof.StopCPUProfile()
	if err := out.Close(); err != nil && runErr == nil {
		return fmt.Errorf("--cpu-profile: %w", err)
	}
	return runErr
}

func run(configPath, control, level string) error {
	if configPath == "" || control == "" {
		return errors.New("--config and --control are required")
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
	cfg, err := testpeer.LoadConfig(configPath)
	if err != nil {
		return err
	}
	tc, peers, err := cfg.Tunnel()
	if err != nil {
		return err
	}
	bind, transport, err := cfg.NewBind(log)
	if err != nil {
		return err
	}
	tc.Bind, tc.Logger = bind, log

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dev, err := tunnel.Open(ctx, tc)
	if err != nil {
		return err
	}
	defer func() {
		if err := dev.Close(); err != nil {
			log.Error("closing device", "error", err)
		}
	}()
	for _, p := range peers {
		if err := dev.AddPeer(p); err != nil {
			return err
		}
	}
	_ = os.Remove(control)
	ln, err := net.Listen("unix", control)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	defer os.Remove(control)
	log.Info("testpeer ready", "interface", dev.Name(), "transport", transport, "control", control)
	serveErr := make(chan error, 1)
	go func() { serveErr <- testpeer.Serve(ctx, ln, dev, transport, log) }()
	select {
	case <-ctx.Done():
		return <-serveErr
	case <-dev.Wait():
		stop()
		<-serveErr
		return errors.New("tunnel device stopped")
	case err := <-serveErr:
		return err
	}
}
