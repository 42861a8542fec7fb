package failclosed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// NFT is the Kernel of Linux: nftables tables of family inet, driven
// through the nft command with a script on its standard input.
//
// The nft command rather than a Go binding (github.com/google/nftables):
// the daemon already runs nft for its MSS clamp; a script is one atomic
// transaction (`table {}; delete table; table {...}` replaces a table with
// no gap); the rules an operator sees with `nft list table` are the very
// text Policy.Ruleset produced and the tests read; and nft keeps up with
// the kernel's netlink ABI so this package does not have to.
type NFT struct {
	// Command builds the nft invocation (exec.CommandContext when nil);
	// tests use it to run nft inside a network namespace.
	Command func(ctx context.Context, name string, args ...string) *exec.Cmd
}

// Install loads the policy's ruleset.
func (n NFT) Install(ctx context.Context, p Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if _, err := n.run(ctx, p.Ruleset(), "-f", "-"); err != nil {
		return fmt.Errorf("fail-closed table %s: %w", TableName(p.Interface), err)
	}
	return nil
}

// Remove deletes the table. Without the nft command there is no table of
// this package to remove.
func (n NFT) Remove(ctx context.Context, table string) (bool, error) {
	ok, err := n.Installed(ctx, table)
	if err != nil || !ok {
		return false, err
	}
	if _, err := n.run(ctx, "", "delete", "table", "inet", table); err != nil {
		return false, fmt.Errorf("fail-closed table %s: %w", table, err)
	}
	return true, nil
}

// Installed lists the inet tables and looks for the table; without the nft
// command there is none.
func (n NFT) Installed(ctx context.Context, table string) (bool, error) {
	out, err := n.run(ctx, "", "list", "tables", "inet")
	if errors.Is(err, exec.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("fail-closed table %s: %w", table, err)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "table inet "+table {
			return true, nil
		}
	}
	return false, nil
}

// Rejected reads the table's counters (nft -j) and sums the packets of
// each guard's rules, named by their comment.
func (n NFT) Rejected(ctx context.Context, table string) (map[string]uint64, error) {
	ok, err := n.Installed(ctx, table)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoTable, table)
	}
	out, err := n.run(ctx, "", "-j", "list", "table", "inet", table)
	if err != nil {
		return nil, fmt.Errorf("fail-closed table %s: %w", table, err)
	}
	var doc struct {
		Nftables []struct {
			Rule *struct {
				Comment string            `json:"comment"`
				Expr    []json.RawMessage `json:"expr"`
			} `json:"rule"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return nil, fmt.Errorf("fail-closed table %s: nft -j: %w", table, err)
	}
	counts := map[string]uint64{}
	for _, o := range doc.Nftables {
		if o.Rule == nil {
			continue
		}
		for _, e := range o.Rule.Expr {
			var c struct {
				Counter *struct {
					Packets uint64 `json:"packets"`
				} `json:"counter"`
			}
			if json.Unmarshal(e, &c) == nil && c.Counter != nil {
				counts[o.Rule.Comment] += c.Counter.Packets
			}
		}
	}
	return counts, nil
}

func (n NFT) run(ctx context.Context, stdin string, args ...string) (string, error) {
	mk := n.Command
	if mk == nil {
		mk = exec.CommandContext
	}
	cmd := mk(ctx, "nft", args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("nft %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		if errors.Is(err, exec.ErrNotFound) {
			return "", fmt.Errorf("the nft command is missing (install nftables): %w", err)
		}
		return "", fmt.Errorf("nft: %w", err)
	}
	return out.String(), nil
}
