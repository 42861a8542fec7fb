package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"intransit/internal/output"
	"intransit/internal/status"
)

// writeBlocks prints the fail-closed blocks in force: what each guards,
// whether it is rejecting traffic now and why; or a line saying there is
// none.
func writeBlocks(w io.Writer, blocks []status.Block) error {
	if len(blocks) == 0 {
		_, err := fmt.Fprintln(w, "\nfail-closed blocks: none (nothing is guarded while the tunnel is down)")
		return err
	}
	fmt.Fprintf(w, "\nfail-closed blocks (table %s, only way out %s)\n", blocks[0].Table, blocks[0].Interface)
	rows := make([][]string, 0, len(blocks))
	for _, b := range blocks {
		guarded := strings.Join(b.Prefixes, " ")
		if guarded == "" {
			guarded = "everything"
		}
		if len(b.Exempt) > 0 {
			guarded += " (but " + strings.Join(b.Exempt, " ") + ")"
		}
		rows = append(rows, []string{b.Name, b.State, guarded, strconv.FormatUint(b.Rejected, 10), b.Reason})
	}
	return output.WriteTable(w, []string{"GUARD", "STATE", "DESTINATIONS", "REJECTED", "WHY"}, rows)
}
