package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/revocation"
)

func newKeysCmd(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "keys",
		Short: "Inspect the signing keys",
	})
	var reason string
	compromise := &cobra.Command{
		Use:   "compromise KID [--reason R]",
		Short: "Cut a leaked key off at once",
		Long: `compromise revokes every token the key KID signed (on disk before the
command returns), takes the key out of the key sets, destroys its private
half and, if it was signing, activates the published next key and publishes
a fresh next key, so that issuing never stops.

Verifiers that check revocations reject its tokens at their next refresh.
Third-party gateways that only cache the key set keep trusting the key until
their cache expires.`,
		Args: args(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			s, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			// Revoke first: once this is on disk the key's tokens are dead
			// for every revocation-aware verifier, whatever happens next.
			e, err := s.revocations.RevokeKey(cmd.Context(), a[0], revocation.Options{Reason: reason, Actor: actor()})
			if err != nil {
				return err
			}
			if err := s.ring.Compromise(cmd.Context(), a[0]); err != nil {
				return err
			}
			return printEntry(g, e)
		},
	}
	compromise.Flags().StringVar(&reason, "reason", "", "why, for the record")
	cmd.AddCommand(compromise)
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List keys with their state and timeline",
		Args:  args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			recs, err := s.ring.List(cmd.Context())
			if err != nil {
				return err
			}
			if g.output == "json" {
				type key struct {
					KID         string     `json:"kid"`
					Format      string     `json:"format"`
					Alg         string     `json:"alg"`
					State       string     `json:"state"`
					Created     time.Time  `json:"created"`
					Activated   *time.Time `json:"activated,omitempty"`
					Retired     *time.Time `json:"retired,omitempty"`
					Compromised *time.Time `json:"compromised,omitempty"`
				}
				out := []key{}
				for _, r := range recs {
					out = append(out, key{r.ID, string(r.Format), r.Algorithm, string(r.State), r.CreatedAt,
						timePtr(r.ActivatedAt), timePtr(r.RetiredAt), timePtr(r.CompromisedAt)})
				}
				return writeJSON(g.stdout, out)
			}
			rows := [][]string{{"KID", "FORMAT", "ALG", "STATE", "CREATED", "ACTIVATED", "RETIRED"}}
			for _, r := range recs {
				rows = append(rows, []string{r.ID, string(r.Format), r.Algorithm, string(r.State),
					when(r.CreatedAt), when(r.ActivatedAt), when(r.RetiredAt)})
			}
			return table(g.stdout, rows)
		},
	})
	return cmd
}
