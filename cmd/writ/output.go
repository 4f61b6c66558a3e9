package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/writ-dev/writ/internal/text"
	"github.com/writ-dev/writ/revocation"
)

// writeJSON writes v as indented JSON, with the characters that plain text
// may not hold escaped (text.EscapeJSON): encoding/json writes C1
// controls and bidi overrides raw, and people print JSON on terminals.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(text.EscapeJSON(b), '\n'))
	return err
}

// table writes rows as aligned columns, the first row being the header.
// Cells are escaped (text.Escape): a value stored by an older writ, or
// written into the database by hand, cannot break a line, move the cursor
// or reorder what the terminal shows.
func table(w io.Writer, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range rows {
		for i, c := range r {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, text.Escape(c))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// when formats a time for tables; "-" for the zero time.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// timePtr makes zero times absent in JSON output.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// printEntry shows a revocation: as JSON, or as one line saying what was
// revoked.
func printEntry(g *globals, e revocation.Entry) error {
	if g.output == "json" {
		return writeJSON(g.stdout, e)
	}
	switch e.Kind {
	case revocation.Subject:
		fmt.Fprintf(g.stdout, "revoked every token of %s issued before %s (seq %d)\n", e.Value, when(e.IssuedBefore), e.Seq)
	case revocation.Key:
		fmt.Fprintf(g.stdout, "revoked every token of key %s (seq %d)\n", e.Value, e.Seq)
	default:
		if e.EffectiveAt.After(e.CreatedAt) {
			fmt.Fprintf(g.stdout, "revoked %s from %s (seq %d)\n", e.Value, when(e.EffectiveAt), e.Seq)
		} else {
			fmt.Fprintf(g.stdout, "revoked %s (seq %d)\n", e.Value, e.Seq)
		}
	}
	return nil
}
