package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/writ-dev/writ/revocation"
)

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
