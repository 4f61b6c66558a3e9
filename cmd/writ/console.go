package main

import (
	"crypto/rand"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/internal/session"
	"github.com/writ-dev/writ/issuer"
)

func newConsoleCmd(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "console",
		Short: "Sign in to the web console of writ serve",
	})
	cmd.AddCommand(newConsoleLinkCmd(g))
	return cmd
}

func newConsoleLinkCmd(g *globals) *cobra.Command {
	var (
		req  issuer.Request
		ttl  time.Duration
		base string
	)
	cmd := &cobra.Command{
		Use:   "link [--subject admin] [--scope writ:admin|writ:issue]... [--ttl 1h] [--url BASE]",
		Short: "Print a one-time link that signs in to the web console",
		Long: `link issues a token for a console session, records it as any other (writ
token list shows it; revoking it ends the session at once), and prints a
one-time sign-in link to the console of writ serve: BASE/ui/login/CODE.

The link carries a random code, not the token, which is never printed. It
works once, within 15 minutes; opening it shows a page whose button signs in,
so that link previews do not use it up. The session ends when the token
expires (--ttl, at most 12h) or is revoked.

The token has the scope writ:admin, or with --scope writ:issue it signs in a
user who manages the tokens of its own subject only, within the further
scopes (--scope) and audiences (--audience) given here.

BASE is --url, by default the issuer (--issuer): the server's public URL.`,
		Example: `  writ console link --subject alice
  writ console link --subject ci-team --scope writ:issue --scope 'orders/**:write' --audience https://api.example.com --ttl 8h`,
		Args: args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ttl <= 0 {
				return usagef("--ttl must be positive, at most %s", session.MaxAge)
			}
			if n := countWrit(req.Scopes); n != 1 {
				return usagef("--scope: give exactly one of writ:admin and writ:issue, and no other writ: scope")
			}
			if base == "" {
				base = g.issuer
			}
			u, err := url.Parse(base)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
				return usagef("--url %q: want the console's base URL, such as https://writ.example.com", base)
			}
			ctx := cmd.Context()
			st, err := g.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			req.Audience = append([]string{g.issuer}, req.Audience...)
			req.TTL, req.IssuedBy = ttl, actor()
			req.Name = "console-" + strings.ToLower(rand.Text()[:10])
			req.Description = "web console sign-in (writ console link)"
			tok, err := st.Issuer.Issue(ctx, req)
			if err != nil {
				return err
			}
			code, err := st.Sessions.Link(ctx, tok, req)
			if err != nil {
				return err
			}
			link := strings.TrimSuffix(base, "/") + "/ui/login/" + code
			if g.output == "json" {
				return writeJSON(g.stdout, map[string]any{"url": link, "jti": tok.ID,
					"link_expires": time.Now().Add(session.LinkTTL).UTC().Format(time.RFC3339), "session_expires": tok.ExpiresAt.UTC().Format(time.RFC3339)})
			}
			fmt.Fprintln(g.stdout, link)
			fmt.Fprintf(g.stderr, "writ: the link works once, within %s; the session ends at %s or when token %s is revoked\n",
				session.LinkTTL, tok.ExpiresAt.UTC().Format(time.RFC3339), tok.ID)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&req.Subject, "subject", "admin", "who signs in: the token's subject")
	fl.StringArrayVar(&req.Scopes, "scope", []string{"writ:admin"}, "the token's scopes: writ:admin, or writ:issue and the scopes it may delegate; repeatable")
	fl.StringArrayVar(&req.Audience, "audience", nil, "with writ:issue, an API its user may issue tokens for, besides the issuer; repeatable")
	durationVar(fl, &ttl, "ttl", time.Hour, session.MaxAge, "how long the session may last")
	fl.StringVar(&base, "url", "", "the console's base URL (default: the issuer)")
	return cmd
}

// countWrit counts the writ: scopes of scopes, and reports -1 when one is
// neither writ:admin nor writ:issue.
func countWrit(scopes []string) int {
	n := 0
	for _, s := range scopes {
		switch {
		case s == "writ:admin" || s == issuer.IssueScope:
			n++
		case strings.HasPrefix(s, "writ:"):
			return -1
		}
	}
	return n
}
