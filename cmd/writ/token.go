package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
)

func newTokenCmd(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "token",
		Short: "Issue and list tokens",
	})
	cmd.AddCommand(newTokenIssueCmd(g), newTokenListCmd(g), newTokenRevokeCmd(g), newTokenRegenerateCmd(g))
	return cmd
}

func newTokenIssueCmd(g *globals) *cobra.Command {
	var (
		req    issuer.Request
		format string
	)
	cmd := &cobra.Command{
		Use:   "issue --subject S --audience A [--scope S]... [--ttl 1h] [--format jwt|paseto] [--name N]",
		Short: "Issue a token and print it",
		Long: `issue signs a token with the active key of its format, records it (never
the token itself) and prints it. The token is shown only this once.

With --output json it prints {"token":…,"jti":…,"exp":…}.`,
		Example: `  writ token issue --subject alice --audience https://api.example.com --scope read --ttl 24h`,
		Args:    args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.Subject == "" || len(req.Audience) == 0 {
				return usagef("--subject and --audience are required")
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
	durationVar(fl, &req.TTL, "ttl", issuer.DefaultTTL, maxDuration, "lifetime of the token")
	fl.StringVar(&format, "format", "jwt", "token format: jwt or paseto")
	fl.StringVar(&req.Name, "name", "", "the token's name (client_id); default: the subject")
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
		f      issuer.Filter
		status string
	)
	cmd := &cobra.Command{
		Use:   "list [--subject S] [--name N] [--status active|revoked|expired] [--limit N]",
		Short: "List issued tokens, newest first",
		Args:  args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if status != "" {
				var err error
				if f.Status, err = issuer.ParseStatus(status); err != nil {
					return usageError{err}
				}
			}
			s, err := g.openRead(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			recs, err := s.Issuer.List(cmd.Context(), f)
			if err != nil {
				return err
			}
			if g.output == "json" {
				if recs == nil {
					recs = []issuer.Record{}
				}
				return writeJSON(g.stdout, recs)
			}
			rows := [][]string{{"JTI", "STATUS", "SUBJECT", "NAME", "SCOPES", "AUDIENCE", "FORMAT", "ISSUED", "EXPIRES"}}
			for _, r := range recs {
				rows = append(rows, []string{r.ID, string(r.Status), r.Subject, r.Name, strings.Join(r.Scopes, " "),
					strings.Join(r.Audience, " "), string(r.Format), when(r.IssuedAt), when(r.ExpiresAt)})
			}
			return table(g.stdout, rows)
		},
	}
	cmd.Flags().StringVar(&f.Subject, "subject", "", "only tokens of this subject")
	cmd.Flags().StringVar(&f.Name, "name", "", "only tokens with this name")
	cmd.Flags().StringVar(&status, "status", "", "only tokens with this status now: active, revoked or expired")
	cmd.Flags().IntVar(&f.Limit, "limit", 1000, "at most this many tokens")
	return cmd
}
