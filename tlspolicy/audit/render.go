package audit

import (
	"fmt"
	"io"
	"strings"

	"intransit/internal/output"
)

// WriteTable prints the report for a person: a summary line, then one row
// per check with its verdict and the reason.
func (r *Report) WriteTable(w io.Writer) error {
	verdict := "COMPLIANT"
	if !r.Compliant {
		verdict = "NOT COMPLIANT"
	}
	fmt.Fprintf(w, "%s (server name %s) under profile %s: %s, %d of %d checks failed, %d probes in %d ms\n\n",
		r.Target, r.ServerName, r.Profile, verdict, len(r.Failed()), len(r.Checks), r.Probes, r.DurationMS)
	rows := make([][]string, 0, len(r.Checks))
	for _, c := range r.Checks {
		rows = append(rows, []string{c.ID, strings.ToUpper(string(c.Status)), c.Detail})
	}
	return output.WriteTable(w, []string{"CHECK", "RESULT", "DETAIL"}, rows)
}
