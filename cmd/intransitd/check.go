package main

import (
	"context"
	"fmt"
	"io"
	"slices"

	"intransit/internal/configcheck"
	"intransit/internal/daemonconfig"
)

// checkConfig is --check: the file's syntax and values (daemonconfig), then
// every file it names, loaded as the daemon loads them at start
// (configcheck). It prints each error on its own line of stderr as
// FILE:LINE: FIELD: MESSAGE, in file order, then "intransitd: FILE: N
// errors", and returns 1; with none it prints "FILE: ok (N remotes)" on
// stdout and returns 0; 2 when the file cannot be read.
func checkConfig(ctx context.Context, path string, stdout, stderr io.Writer) int {
	cfg, err := daemonconfig.LoadAll(path)
	errs := daemonconfig.List(err)
	if err != nil && errs == nil {
		fmt.Fprintf(stderr, "intransitd: %v\n", err)
		return 2
	}
	if cfg != nil {
		flagged := map[string]bool{}
		for _, e := range errs {
			flagged[e.Field] = true
		}
		for _, e := range daemonconfig.List(configcheck.Check(ctx, cfg)) {
			if !flagged[e.Field] { // the value's own error says it already
				errs = append(errs, e)
			}
		}
		slices.SortStableFunc(errs, func(a, b *daemonconfig.Error) int { return a.Line - b.Line })
	}
	if len(errs) == 0 {
		fmt.Fprintf(stdout, "%s: ok (%d remotes)\n", cfg.Path, len(cfg.Remotes))
		return 0
	}
	for _, e := range errs {
		fmt.Fprintln(stderr, e)
	}
	noun := "errors"
	if len(errs) == 1 {
		noun = "error"
	}
	fmt.Fprintf(stderr, "intransitd: %s: %d %s\n", path, len(errs), noun)
	return 1
}
