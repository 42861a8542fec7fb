// Package output renders the results of listing commands either as a table
// for people or as JSON for programs, chosen by the --output flag.
package output

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Format is how a listing command prints its result.
type Format string

const (
	// Table prints aligned columns for a person.
	Table Format = "table"
	// JSON prints one indented JSON document for a program.
	JSON Format = "json"
)

// String implements pflag.Value.
func (f *Format) String() string {
	if *f == "" {
		return string(Table)
	}
	return string(*f)
}

// Set implements pflag.Value and accepts "table" or "json".
func (f *Format) Set(s string) error {
	switch Format(strings.ToLower(s)) {
	case Table, "text", "":
		*f = Table
	case JSON:
		*f = JSON
	default:
		return fmt.Errorf("unknown output format %q (want table or json)", s)
	}
	return nil
}

// Type implements pflag.Value.
func (f *Format) Type() string { return "format" }

// WriteJSON writes v as indented JSON followed by a newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	return nil
}

// WriteTable writes rows under a header as tab-aligned columns.
func WriteTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}
