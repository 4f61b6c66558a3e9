package main

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
)

func newTokenCmd(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "token",
		Short: "Issue and list tokens",
	})
	cmd.AddCommand(newTokenIssueCmd(g), newTokenListCmd(g), newTokenShowCmd(g), newTokenRevokeCmd(g), newTokenRegenerateCmd(g))
	return cmd
}

func newTokenIssueCmd(g *globals) *cobra.Command {
	var (
		req     issuer.Request
		format  string
		expires string
	)
	cmd := &cobra.Command{
		Use:   "issue --subject S --audience A [--scope S]... [--ttl 1h | --expires TIME] [--format jwt|paseto] [--name N] [--allow-ip CIDR]...",
		Short: "Issue a token and print it",
		Long: `issue signs a token with the active key of its format, records it (never
the token itself) and prints it. The token is shown only this once.

With --allow-ip the token carries the claim allowed_ips: verifiers built on
writ (writ verify --client-ip, the bearer middleware, writ serve) refuse it
from any other client address, and when they are not told the address.
Third-party verifiers ignore the claim.

With --output json it prints {"token":…,"jti":…,"exp":…}.`,
		Example: `  writ token issue --subject alice --audience https://api.example.com --scope read --ttl 30d`,
		Args:    args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.Subject == "" || len(req.Audience) == 0 {
				return usagef("--subject and --audience are required")
			}
			if req.TTL == 0 {
				return usagef("--ttl 0: every token expires; give a lifetime such as 1h, 30d or 2w")
			}
			if expires != "" {
				if cmd.Flags().Changed("ttl") {
					return usagef("--ttl and --expires exclude each other")
				}
				t, err := time.Parse(time.RFC3339, expires)
				if err != nil {
					return usagef("--expires %q: want an RFC 3339 time such as 2027-01-31T00:00:00Z", expires)
				}
				req.TTL, req.Expires = 0, t
			}
			f, err := keys.ParseFormat(format)
			if err != nil {
				return usageError{err}
			}
			req.Format = f
			req.IssuedBy = actor()
			s, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			t, err := s.Issuer.Issue(cmd.Context(), req)
			if err != nil {
				return err
			}
			return printToken(g, t)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&req.Subject, "subject", "", "who the token acts for (sub)")
	fl.StringArrayVar(&req.Audience, "audience", nil, "an API that accepts the token (aud); repeatable")
	fl.StringArrayVar(&req.Scopes, "scope", nil, "a scope the token grants; repeatable")
	durationVar(fl, &req.TTL, "ttl", issuer.DefaultTTL, maxDuration, "lifetime of the token, such as 1h, 30d or 2w")
	fl.StringVar(&expires, "expires", "", "when the token expires, an RFC 3339 `time`, instead of --ttl")
	fl.StringVar(&format, "format", "jwt", "token format: jwt or paseto")
	fl.StringVar(&req.Name, "name", "", "the token's name (client_id), unique among the subject's live tokens; default: the subject")
	fl.StringVar(&req.Description, "description", "", "free text for the people who manage the token; never put in it")
	networksVar(fl, &req.AllowedIPs, "allow-ip", "bind the token to a network, a `CIDR` prefix or one address: writ's verifiers refuse it from elsewhere; repeatable")
	return cmd
}

// printToken shows a new token: alone, or as JSON with its jti and expiry.
func printToken(g *globals, t *issuer.Token) error {
	if g.output == "json" {
		return writeJSON(g.stdout, struct {
			Token  string `json:"token"`
			JTI    string `json:"jti"`
			Exp    int64  `json:"exp"`
			Format string `json:"format"`
			KID    string `json:"kid"`
		}{t.Token, t.ID, t.ExpiresAt.Unix(), string(t.Format), t.KeyID})
	}
	_, err := fmt.Fprintln(g.stdout, t.Token)
	return err
}

func newTokenListCmd(g *globals) *cobra.Command {
	var (
		f            issuer.Filter
		status, sort string
	)
	cmd := &cobra.Command{
		Use:   "list [--subject S] [--name N] [--status active|revoked|expired] [--expiring-within 7d] [--never-used] [--sort issued|last-used] [--limit N] [--after CURSOR]",
		Short: "List issued tokens, newest first",
		Long: `list prints the recorded tokens that match, newest first, at most --limit
of them. When more match, a hint on stderr gives the --after to list the
next ones. --expiring-within lists the active tokens expiring within that
time, to regenerate before they do.

Verifiers that report usage to writ serve tell when each token was last
used (LAST-USED): --sort last-used lists the most recently used first and
the tokens never used last, and --never-used lists only the tokens of which
no use was reported, to revoke the ones nobody needs.`,
		Args: args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if status != "" {
				var err error
				if f.Status, err = issuer.ParseStatus(status); err != nil {
					return usageError{err}
				}
			}
			switch sort {
			case "issued":
			case "last-used":
				f.Sort = issuer.SortLastUsed
			default:
				return usagef("--sort %q: want issued or last-used", sort)
			}
			if cmd.Flags().Changed("expiring-within") && f.ExpiringWithin == 0 {
				return usagef("--expiring-within 0: give a time such as 7d")
			}
			s, err := g.openRead(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			p, err := s.Issuer.ListPage(cmd.Context(), f)
			if err != nil {
				return err
			}
			if p.Next != "" {
				again := "--after " + p.Next
				if f.Sort == issuer.SortLastUsed {
					again = "--sort last-used " + again
				}
				fmt.Fprintf(g.stderr, "writ: hint: more tokens match: list them with %s\n", again)
			}
			recs := p.Records
			if g.output == "json" {
				if recs == nil {
					recs = []issuer.Record{}
				}
				return writeJSON(g.stdout, recs)
			}
			rows := [][]string{{"JTI", "STATUS", "SUBJECT", "NAME", "SCOPES", "AUDIENCE", "FORMAT", "ISSUED", "EXPIRES", "LAST-USED"}}
			for _, r := range recs {
				rows = append(rows, []string{r.ID, string(r.Status), r.Subject, r.Name, strings.Join(r.Scopes, " "),
					strings.Join(r.Audience, " "), string(r.Format), when(r.IssuedAt), when(r.ExpiresAt), when(r.LastUsed)})
			}
			return table(g.stdout, rows)
		},
	}
	cmd.Flags().StringVar(&f.Subject, "subject", "", "only tokens of this subject")
	cmd.Flags().StringVar(&f.Name, "name", "", "only tokens with this name")
	cmd.Flags().StringVar(&f.Parent, "parent", "", "only tokens issued by the token with this jti")
	cmd.Flags().StringVar(&status, "status", "", "only tokens with this status now: active, revoked or expired")
	durationVar(cmd.Flags(), &f.ExpiringWithin, "expiring-within", 0, issuer.MaxPolicyTTL, "only active tokens expiring within this time, such as 7d")
	cmd.Flags().BoolVar(&f.NeverUsed, "never-used", false, "only tokens of which verifiers reported no use")
	cmd.Flags().StringVar(&sort, "sort", "issued", "the order: issued (newest first) or last-used (most recently used first)")
	cmd.Flags().IntVar(&f.Limit, "limit", 1000, "at most this many tokens")
	cmd.Flags().StringVar(&f.After, "after", "", "list the tokens after this cursor, from the hint of the previous page")
	return cmd
}

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
reports success. Revoking a revoked token again is not an error. The
tokens that a token issued with writ:issue, and those they issued, are
revoked with it.`,
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

func newTokenRegenerateCmd(g *globals) *cobra.Command {
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "regenerate JTI [--grace D]",
		Short: "Issue a replacement token and revoke the old one",
		Long: `regenerate issues a new token with the same subject, scopes, audience,
name, format and lifetime (within the lifetime policy) as the token JTI, prints it (once), and revokes
the old token, after --grace if given so that its holder can switch. The
grace must end by the old token's expiry: a longer one is refused (exit 2).

The old token may have expired already: regenerate is also how its holder
gets a new one with the same grants (without --grace). A revoked token is
not regenerated: its grants were taken away, and a replacement would hand
them back (a revocation scheduled for later, after a grace, does not count).
The replacement keeps the old token's description, networks and parent;
a delegated token's replacement ends by its parent's expiry.`,
		Args: args(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			s, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			t, err := s.Issuer.Regenerate(cmd.Context(), a[0], revocation.Options{Actor: actor(), Grace: grace})
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
