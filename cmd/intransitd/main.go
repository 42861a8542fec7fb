// Command intransitd is the intransit gateway daemon: it reads one
// configuration file (see internal/daemonconfig), runs the site-to-site
// gateway (package s2s), answers `intransit status` on a local unix socket,
// serves Prometheus metrics when asked to, reloads on SIGHUP and speaks
// sd_notify (READY, STATUS, RELOADING, STOPPING and the watchdog). Before
// anything else it installs its fail-closed blocks (tunnel/failclosed): the
// remote sites' prefixes and the point-to-site pools leave only through the
// tunnels, also while it is stopped, killed or restarting.
//
//	intransitd --config /etc/intransit/intransitd.yaml
//	intransitd --config FILE --check   # check the file and the files it names, and exit
//	intransitd --log-level debug       # pin the level (else log_level)
//	intransitd --config FILE --guard   # install the fail-closed blocks and exit (at boot)
//
// Exit status: 0 after a clean stop, 1 for an invalid configuration, 2 when
// the gateway could not run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"intransit/internal/daemonconfig"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("intransitd", flag.ContinueOnError)
	path := fs.String("config", "/etc/intransit/intransitd.yaml", "configuration file")
	check := fs.Bool("check", false, "check the configuration and every file it names (certificates, keys, CA bundle, CRL, secrets) as at start, print every error, and exit: 0 ok, 1 errors, 2 unreadable")
	levelFlag := fs.String("log-level", "", "log level for the life of the process: debug, info, warn or error (default: log_level of the configuration, applied again on reload)")
	guard := fs.Bool("guard", false, "install the configuration's fail-closed blocks and exit (at boot, before the network)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	level, err := newLogLevel(*levelFlag)
	if err != nil {
		fmt.Fprintf(os.Stderr, "intransitd: --log-level: %v\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "intransitd: unexpected arguments %v\n", fs.Args())
		return 2
	}
	if *check {
		return checkConfig(context.Background(), *path, os.Stdout, os.Stderr)
	}
	cfg, err := daemonconfig.Load(*path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "intransitd: %v\n", err)
		var ce *daemonconfig.Error
		if errors.As(err, &ce) {
			return 1
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if *guard {
		if _, err := installGuards(ctx, cfg); err != nil {
			fmt.Fprintf(os.Stderr, "intransitd: fail-closed block: %v\n", err)
			return 2
		}
		fmt.Printf("%s: fail-closed blocks installed (%d remotes)\n", cfg.Path, len(cfg.Remotes))
		return 0
	}
	d, err := newDaemon(ctx, cfg, level)
	if err != nil {
		fmt.Fprintf(os.Stderr, "intransitd: %v\n", err)
		return 2
	}
	if err := d.serve(ctx); err != nil {
		d.log.Error("intransitd stopped", "error", err.Error())
		return 2
	}
	return 0
}
