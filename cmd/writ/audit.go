package main

import (
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
		Use:   "audit [--subject S] [--jti J] [--since TIME|DURATION]",
		Short: "Show who did what, oldest first",
		Args:  args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
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
			events, err := s.Audit.List(cmd.Context(), f)
			if err != nil {
				return err
			}
			if g.output == "json" {
				if events == nil {
					events = []audit.Event{}
				}
				return writeJSON(g.stdout, events)
			}
			rows := [][]string{{"AT", "ACTOR", "ACTION", "SUBJECT", "JTI", "KID", "DETAIL"}}
			for _, e := range events {
				rows = append(rows, []string{e.At.Format(time.RFC3339), e.Actor, e.Action, e.Subject, e.JTI, e.KID, e.Detail})
			}
			return table(g.stdout, rows)
		},
	}
	cmd.Flags().StringVar(&f.Subject, "subject", "", "only events about this subject")
	cmd.Flags().StringVar(&f.JTI, "jti", "", "only events about this token")
	cmd.Flags().StringVar(&since, "since", "", "only events since this RFC 3339 time, or this long ago (24h)")
	cmd.Flags().IntVar(&f.Limit, "limit", 1000, "at most this many (the newest) events")
	return cmd
}
