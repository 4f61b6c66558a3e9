package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/issuer"
)

func newPermissionsCmd(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "permissions",
		Short: "Declare the resource types and actions that permissions may name",
		Long: `permissions keeps the catalogue of resource types: the first segment of a
permission's resource ("orders" in "orders/42:read") and the actions that
permissions on it may name. It is kept in the database, so that the CLI,
the API and every server replica apply the same one.

Once a type is declared, issuing a permission outside the catalogue is
refused, with the closest permission it declares: an unknown type, or an
action not declared for its type (declare read,write,admin for all three:
implication does not declare). A permission whose first segment is a
wildcard ("*/42:read") needs its action declared for every type. Flat
scopes and writ's own scopes are never checked. With no type declared,
every valid permission may be issued.`,
	})
	cmd.AddCommand(newPermissionsListCmd(g), newPermissionsDefineCmd(g), newPermissionsRemoveCmd(g))
	return cmd
}

func newPermissionsListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the declared resource types and their actions",
		Args:  args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.openRead(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			types, err := s.Issuer.Permissions(cmd.Context())
			if err != nil {
				return err
			}
			if g.output == "json" {
				if types == nil {
					types = []issuer.ResourceType{}
				}
				return writeJSON(g.stdout, types)
			}
			rows := [][]string{{"TYPE", "ACTIONS"}}
			for _, t := range types {
				rows = append(rows, []string{t.Name, strings.Join(t.Actions, " ")})
			}
			return table(g.stdout, rows)
		},
	}
}

func newPermissionsDefineCmd(g *globals) *cobra.Command {
	var actions []string
	cmd := &cobra.Command{
		Use:     "define TYPE --actions A,B,...",
		Short:   "Declare a resource type and its actions, or replace its actions",
		Example: `  writ permissions define orders --actions read,write,admin`,
		Args:    args(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if len(actions) == 0 {
				return usagef("--actions is required")
			}
			s, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			t, err := s.Issuer.DefineResourceType(cmd.Context(), issuer.ResourceType{Name: a[0], Actions: actions}, actor())
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(g.stdout, t)
			}
			_, err = fmt.Fprintf(g.stdout, "defined %s: %s\n", t.Name, strings.Join(t.Actions, " "))
			return err
		},
	}
	cmd.Flags().StringSliceVar(&actions, "actions", nil, "the type's actions, comma-separated or repeated")
	return cmd
}

func newPermissionsRemoveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "remove TYPE",
		Short: "Remove a resource type from the catalogue",
		Args:  args(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			s, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			if err := s.Issuer.RemoveResourceType(cmd.Context(), a[0], actor()); err != nil {
				return err
			}
			_, err = fmt.Fprintf(g.stdout, "removed %s\n", a[0])
			return err
		},
	}
}
