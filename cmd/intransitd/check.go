package main

import (
	"context"
	"fmt"
	"io"

	"intransit/internal/configcheck"
)

// checkConfig is --check: configcheck.File, the file's syntax and values
// then every file it names, loaded as the daemon loads them at start. It
// prints each error on its own line of stderr as FILE:LINE: FIELD:
// MESSAGE, in file order, then "intransitd: FILE: N errors", and returns
// 1; with none it prints "FILE: ok (N remotes)" on stdout and returns 0; 2
// when the file cannot be read.
func checkConfig(ctx context.Context, path string, stdout, stderr io.Writer) int {
	cfg, errs, err := configcheck.File(ctx, path)
	if err != nil {
		fmt.Fprintf(stderr, "intransitd: %v\n", err)
		return 2
	}
	if len(errs) == 0 {
		fmt.Fprintf(stdout, "%s: ok (%d remotes)\n", cfg.Path, len(cfg.Remotes))
		return 0
	}
	for _, e := range errs {
		fmt.Fprintln(stderr, e)
	}
	fmt.Fprintf(stderr, "intransitd: %s: %s\n", path, configcheck.Count(len(errs)))
	return 1
}
