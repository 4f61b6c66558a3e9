package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/internal/duration"
	"github.com/writ-dev/writ/issuer"
)

func newPolicyCmd(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "policy",
		Short: "Show or set the lifetime policy of tokens",
		Long: `The lifetime policy is kept in the database, so that the CLI, the API and
every replica apply the same one: no token is issued for longer than its
maximum (90 days unless set). Changing it leaves the tokens issued before
as they are.`,
	})
	cmd.AddCommand(newPolicyShowCmd(g), newPolicySetCmd(g))
	return cmd
}

func newPolicyShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show",
		Short: "Show the lifetime policy",
		Args:  args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.openRead(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			p, err := s.Issuer.Policy(cmd.Context())
			if err != nil {
				return err
			}
			return printPolicy(g, p)
		},
	}
}

func newPolicySetCmd(g *globals) *cobra.Command {
	var maxTTL time.Duration
	cmd := &cobra.Command{
		Use:     "set --max-ttl D",
		Short:   "Set the longest lifetime of the tokens issued from now on",
		Example: `  writ policy set --max-ttl 365d`,
		Args:    args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("max-ttl") {
				return usagef("--max-ttl is required, such as 365d")
			}
			s, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			p, err := s.Issuer.SetPolicy(cmd.Context(), maxTTL, actor())
			if err != nil {
				return err
			}
			return printPolicy(g, p)
		},
	}
	durationVar(cmd.Flags(), &maxTTL, "max-ttl", 0, issuer.MaxPolicyTTL,
		fmt.Sprintf("the longest lifetime of a token, from %v to %s", issuer.MinPolicyTTL, duration.Format(issuer.MaxPolicyTTL)))
	return cmd
}

// printPolicy shows the lifetime policy, as the API's /v1/policy does in
// JSON.
func printPolicy(g *globals, p issuer.Policy) error {
	if g.output == "json" {
		return writeJSON(g.stdout, struct {
			MaxTTL        string `json:"max_ttl"`
			MaxTTLSeconds int64  `json:"max_ttl_seconds"`
			Default       bool   `json:"default"`
		}{duration.Format(p.MaxTTL), int64(p.MaxTTL / time.Second), p.Default})
	}
	note := ""
	if p.Default {
		note = " (writ's default: no policy set)"
	}
	_, err := fmt.Fprintf(g.stdout, "max-ttl: %s%s\n", duration.Format(p.MaxTTL), note)
	return err
}
