package main

import (
	"time"

	"github.com/spf13/cobra"
)

func newKeysCmd(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "keys",
		Short: "Inspect the signing keys",
	})
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
