package configcheck

import (
	"context"
	"fmt"
	"slices"

	"intransit/internal/daemonconfig"
)

// File checks the configuration file at path as the daemon would start
// with it: its syntax and values (daemonconfig.LoadAll, which also finds
// port and prefix clashes), then every file it names (Check). It returns
// what it read (nil when the file does not parse at all) and every
// finding, in file order, each naming the file, line and field; a field
// whose value is already refused is not checked again on disk. The error
// is non-nil only when the file cannot be read: then there is no finding.
// Both `intransitd --check` and `intransit s2s check-config` are this
// function, so they report the same findings.
func File(ctx context.Context, path string) (*daemonconfig.Config, []*daemonconfig.Error, error) {
	cfg, err := daemonconfig.LoadAll(path)
	errs := daemonconfig.List(err)
	if err != nil && errs == nil {
		return nil, nil, err
	}
	if cfg == nil {
		return nil, errs, nil
	}
	flagged := map[string]bool{}
	for _, e := range errs {
		flagged[e.Field] = true
	}
	for _, e := range daemonconfig.List(Check(ctx, cfg)) {
		if !flagged[e.Field] { // the value's own error says it already
			errs = append(errs, e)
		}
	}
	slices.SortStableFunc(errs, func(a, b *daemonconfig.Error) int { return a.Line - b.Line })
	return cfg, errs, nil
}

// Count says how many errors there are: "1 error", "3 errors".
func Count(n int) string {
	if n == 1 {
		return "1 error"
	}
	return fmt.Sprintf("%d errors", n)
}
