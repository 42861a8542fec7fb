// Package nftables applies nftables scripts with the nft command: the
// tables the daemon owns (the site-to-site MSS clamp, point-to-site client
// isolation) are written as scripts and applied atomically.
package nftables

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Apply runs script with `nft -f -`, which applies it as one transaction;
// the error carries nft's own message.
func Apply(ctx context.Context, script string) error {
	cmd := exec.CommandContext(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nft: %w: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

// DeleteTable removes the inet table name if it exists, best effort and
// within 5 seconds.
func DeleteTable(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = Apply(ctx, fmt.Sprintf("table inet %s {}\ndelete table inet %s\n", name, name))
}
