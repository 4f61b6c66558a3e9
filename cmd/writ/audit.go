package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/duration"
)

func newAuditCmd(g *globals) *cobra.Command {
	var (
		f     audit.Filter
		since string
	)
	cmd := &cobra.Command{
		Use:   "audit [--subject S] [--jti J] [--since TIME|DURATION] [--limit N] [--before ID]",
		Short: "Show who did what, oldest first",
		Long: `audit prints the newest events that match, at most --limit of them, oldest
first. When older ones match, a hint on stderr gives the --before to list
the page before (with --output json, the events carry their id).`,
		Args: args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("before") && f.Before < 1 {
				return usagef("--before %d: want the id of an event, from the hint of the previous page", f.Before)
			}
			if f.Limit < 1 {
				return usagef("--limit %d: want 1 or more", f.Limit)
			}
			if since != "" {
				if d, err := duration.Parse(since); err == nil {
					f.Since = time.Now().Add(-d)
				} else if t, err := time.Parse(time.RFC3339, since); err == nil {
					f.Since = t
				} else {
					return usagef("--since %q: want an RFC 3339 time or a duration such as 24h", since)
				}
			}
			s, err := g.openRead(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			p, err := s.Audit.ListPage(cmd.Context(), f)
			if err != nil {
				return err
			}
			if p.Next != 0 {
				fmt.Fprintf(g.stderr, "writ: hint: older events match: list them with --before %d\n", p.Next)
			}
			if g.output == "json" {
				return writeJSON(g.stdout, p.Events)
			}
			rows := [][]string{{"AT", "ACTOR", "ACTION", "SUBJECT", "JTI", "KID", "DETAIL"}}
			for _, e := range p.Events {
				rows = append(rows, []string{e.At.Format(time.RFC3339), e.Actor, e.Action, e.Subject, e.JTI, e.KID, e.Detail})
			}
			return table(g.stdout, rows)
		},
	}
	cmd.Flags().StringVar(&f.Subject, "subject", "", "only events about this subject")
	cmd.Flags().StringVar(&f.JTI, "jti", "", "only events about this token")
	cmd.Flags().StringVar(&since, "since", "", "only events since this RFC 3339 time, or this long ago (24h)")
	cmd.Flags().IntVar(&f.Limit, "limit", 1000, "at most this many (the newest) events")
	cmd.Flags().Int64Var(&f.Before, "before", 0, "only events before the event of this `ID`, from the hint of the previous page")
	return cmd
}
