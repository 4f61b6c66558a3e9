package main

import (
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/internal/text"
	"github.com/writ-dev/writ/issuer"
)

func newTokenShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show JTI",
		Short: "Show a token: grants, constraints, status, usage, parent and children",
		Long: `show prints what writ recorded of the token JTI (never the token itself):
its grants (subject, audience, scopes, name, description), its constraints
(allowed networks, expiry), its status now, and when, why and by whom it was
revoked, or when a scheduled revocation takes effect, the token that issued
it and the tokens it issued. When verifiers report usage to writ serve, it
shows the first and last use, the uses and refusals by reason, the days of
the last 30 with uses, and the client addresses seen. With --output json it
prints what the admin API's GET /v1/tokens/JTI answers.`,
		Args: args(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			s, err := g.openRead(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			d, err := s.Issuer.Show(cmd.Context(), a[0])
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(g.stdout, d)
			}
			return printDetails(g.stdout, d)
		},
	}
}

// printDetails writes d as "field: value" lines, every value escaped
// (text.Escape): a description cannot break a line or move the cursor.
func printDetails(w io.Writer, d *issuer.Details) error {
	var b strings.Builder
	line := func(field, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%-12s %s\n", field+":", text.Escape(value))
		}
	}
	var ips []string
	for _, p := range d.AllowedIPs {
		ips = append(ips, p.String())
	}
	line("jti", d.ID)
	line("status", statusLine(d))
	line("subject", d.Subject)
	line("name", d.Name)
	line("description", d.Description)
	line("audience", strings.Join(d.Audience, " "))
	line("scopes", strings.Join(d.Scopes, " "))
	line("allowed-ips", strings.Join(ips, " "))
	line("format", string(d.Format))
	line("kid", d.KeyID)
	line("issued", when(d.IssuedAt)+" by "+d.IssuedBy)
	line("expires", when(d.ExpiresAt))
	line("parent", d.Parent)
	for _, c := range d.Children {
		line("child", c.ID+" "+string(c.Status)+" "+c.Name)
	}
	if u := d.Usage; u != nil {
		usageLines(line, u)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// usageLines writes the lines of u.
func usageLines(line func(field, value string), u *issuer.Usage) {
	from := func(a netip.Addr) string {
		if a.IsValid() {
			return " from " + a.String()
		}
		return ""
	}
	line("first-use", when(u.FirstUse))
	line("last-use", when(u.LastUse)+from(u.LastClient))
	uses := fmt.Sprintf("%d accepted", u.Uses)
	for _, r := range slices.Sorted(maps.Keys(u.Refusals)) {
		uses += fmt.Sprintf(", %d refused: %s", u.Refusals[r], r)
	}
	line("uses", uses)
	for _, d := range u.Days {
		line("day", fmt.Sprintf("%s %d accepted, %d refused", d.Date, d.Uses, d.Refused))
	}
	for _, c := range u.Clients {
		line("client", fmt.Sprintf("%s uses %d, first %s, last %s", c.IP, c.Uses, when(c.First), when(c.Last)))
	}
	if u.ClientsOverflow > 0 {
		line("client", fmt.Sprintf("%d more uses from addresses not kept", u.ClientsOverflow))
	}
}

// statusLine says a token's status, and what revoked it or will.
func statusLine(d *issuer.Details) string {
	r := d.Revocation
	if r == nil {
		return string(d.Status)
	}
	why := ""
	if r.Reason != "" {
		why = fmt.Sprintf(": %q", r.Reason)
	}
	by := map[string]string{"token": "", "subject": " with every token of its subject", "key": " with every token of its key"}[r.By]
	if r.Scheduled {
		return fmt.Sprintf("%s; revocation scheduled at %s by %s%s", d.Status, when(r.EffectiveAt), r.Actor, why)
	}
	return fmt.Sprintf("%s at %s%s by %s%s", d.Status, when(r.EffectiveAt), by, r.Actor, why)
}
