package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cpuguy83/go-md2man/v2/md2man"
	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"intransit/docs"
)

// newManCommand builds the hidden `intransit man DIR`, which the packaging
// runs: it writes the manual pages of intransit, section 1 (one page per
// command, made from the command tree), and intransitd(8) (docs/intransitd.8.md,
// which holds the configuration reference). $SOURCE_DATE_EPOCH, when set,
// dates the pages, so that a build is reproducible.
func newManCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "Write the manual pages intransit(1) and intransitd(8) into DIR (for packagers)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			date := time.Now().UTC()
			if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
				sec, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
				}
				date = time.Unix(sec, 0).UTC()
			}
			root.DisableAutoGenTag = true
			header := &doc.GenManHeader{Title: "INTRANSIT", Section: "1", Date: &date, Source: "intransit", Manual: "intransit manual"}
			if err := doc.GenManTree(root, header, dir); err != nil {
				return fmt.Errorf("intransit(1): %w", err)
			}
			page := filepath.Join(dir, "intransitd.8")
			if err := os.WriteFile(page, md2man.Render(docs.DaemonManual()), 0o644); err != nil {
				return fmt.Errorf("intransitd(8): %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "manual pages written to %s\n", dir)
			return nil
		},
	}
}
