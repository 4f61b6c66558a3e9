package main

import (
	"github.com/spf13/cobra"
)

func newJWKSCmd(g *globals) *cobra.Command {
	var paserkSet bool
	cmd := &cobra.Command{
		Use:   "jwks",
		Short: "Print the public key set as served",
		Long: `jwks prints the published JWT keys (next, active and retired) as a JSON
Web Key Set, or with --paserk the PASETO keys as a PASERK set. Neither ever
holds private key material.`,
		Args: args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.openRead(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			set, err := s.Keys.JWKS(cmd.Context())
			if paserkSet {
				set, err = s.Keys.PASERKSet(cmd.Context())
			}
			if err != nil {
				return err
			}
			_, err = g.stdout.Write(append(set, '\n'))
			return err
		},
	}
	cmd.Flags().BoolVar(&paserkSet, "paserk", false, "print the PASETO keys as a PASERK set")
	return cmd
}
