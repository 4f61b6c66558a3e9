package main

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/internal/audit"
	"github.com/writ-dev/writ/revocation"
)

func newTokenRevokeCmd(g *globals) *cobra.Command {
	var (
		subject, reason string
		before          string
	)
	cmd := &cobra.Command{
		Use:   "revoke JTI | --subject S [--before TIME]",
		Short: "Revoke one token, or every token of a subject",
		Long: `revoke invalidates a token before it expires, by its jti, or with
--subject every token of that subject issued before now (or --before, an
RFC 3339 time, not in the future). The revocation is on disk before writ
reports success. Revoking a revoked token again is not an error.`,
		RunE: func(cmd *cobra.Command, a []string) error {
			switch {
			case subject == "" && len(a) != 1:
				return usagef("give one JTI, or --subject")
			case subject != "" && len(a) != 0:
				return usagef("give a JTI or --subject, not both")
			case before != "" && subject == "":
				return usagef("--before goes with --subject")
			}
			var cut time.Time
			if before != "" {
				var err error
				// Before 1970 would read as zero, which means now to the list.
				if cut, err = time.Parse(time.RFC3339, before); err != nil || cut.Unix() <= 0 {
					return usagef("--before %q: want an RFC 3339 time after 1970, such as 2026-01-02T15:04:05Z", before)
				}
			}
			s, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			o := revocation.Options{Reason: reason, Actor: actor()}
			var e revocation.Entry
			if subject != "" {
				e, err = s.Revocations.RevokeSubject(cmd.Context(), subject, cut, o)
			} else {
				e, err = s.Revocations.RevokeToken(cmd.Context(), a[0], o)
			}
			if err != nil {
				return invalidAsUsage(err)
			}
			return printEntry(g, e)
		},
	}
	cmd.Flags().StringVar(&subject, "subject", "", "revoke every token of this subject")
	cmd.Flags().StringVar(&before, "before", "", "with --subject: only tokens issued before this RFC 3339 time")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the record")
	return cmd
}

// invalidAsUsage makes a revocation refused for the arguments it was given
// (a malformed jti or subject, a grace past the token's expiry, a cut-off
// in the future) a usage error.
func invalidAsUsage(err error) error {
	if errors.Is(err, revocation.ErrInvalid) {
		return usageError{err}
	}
	return err
}

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

func newTokenRegenerateCmd(g *globals) *cobra.Command {
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "regenerate JTI [--grace D]",
		Short: "Issue a replacement token and revoke the old one",
		Long: `regenerate issues a new token with the same subject, scopes, audience,
name, format and lifetime as the token JTI, prints it (once), and revokes
the old token, after --grace if given so that its holder can switch. The
grace must end by the old token's expiry: a longer one is refused (exit 2).

The old token may have expired or been revoked already: regenerate is also
how its holder gets a new one with the same grants (without --grace).`,
		Args: args(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			s, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			t, err := s.Issuer.Regenerate(cmd.Context(), a[0], s.Revocations, revocation.Options{Actor: actor(), Grace: grace})
			if err != nil {
				return invalidAsUsage(err)
			}
			return printToken(g, t)
		},
	}
	// No bound of its own: the grace must end by the old token's expiry.
	durationVar(cmd.Flags(), &grace, "grace", 0, math.MaxInt64, "keep the old token valid this long, at most until it expires")
	return cmd
}

func newRevocationsCmd(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "revocations",
		Short: "Inspect and prune the revocation list",
	})
	var kind string
	list := &cobra.Command{
		Use:   "list [--kind token|subject|key]",
		Short: "List revocations in sequence order",
		Args:  args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.openRead(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			entries, err := s.Revocations.Entries(cmd.Context(), revocation.Filter{Kind: revocation.Kind(kind)})
			if err != nil {
				return err
			}
			if g.output == "json" {
				if entries == nil {
					entries = []revocation.Entry{}
				}
				return writeJSON(g.stdout, entries)
			}
			rows := [][]string{{"SEQ", "KIND", "VALUE", "ISSUED-BEFORE", "EFFECTIVE", "EXPIRES", "ACTOR", "REASON"}}
			for _, e := range entries {
				rows = append(rows, []string{fmt.Sprint(e.Seq), string(e.Kind), e.Value, when(e.IssuedBefore),
					when(e.EffectiveAt), when(e.ExpiresAt), e.Actor, e.Reason})
			}
			return table(g.stdout, rows)
		},
	}
	list.Flags().StringVar(&kind, "kind", "", "only entries of this kind: token, subject or key")
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Delete revocations whose tokens have all expired",
		Args:  args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			n, err := s.Revocations.Prune(cmd.Context(), actor())
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(g.stdout, map[string]int64{"pruned": n})
			}
			fmt.Fprintf(g.stdout, "pruned %d entries\n", n)
			return nil
		},
	}
	cmd.AddCommand(list, prune)
	return cmd
}

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
				if d, err := time.ParseDuration(since); err == nil {
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
			events, err := audit.List(cmd.Context(), s.SQL, f)
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
