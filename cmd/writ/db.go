package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ"
)

func newDBCmd(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "db",
		Short: "Move the database between SQLite and PostgreSQL",
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "copy FROM TO",
		Short: "Copy the whole database into a new one, of either engine",
		Long: `copy copies the whole writ database FROM into a new database TO: keys in every
state, sealed as they are, with what binds them to the master key; tokens;
revocations; the audit log; the usage of tokens. Each is an SQLite file or a
postgres:// URL, so a database moves from SQLite to PostgreSQL, back, or to
another of the same engine. It needs no master key: the copy opens with the original's.

FROM is read in one snapshot, so a copy taken while writ serve runs is
consistent; writes made meanwhile are not in it. TO is written in one
transaction, committed only once it reads back as FROM: an SQLite TO must not
exist, and appears only once complete; a PostgreSQL TO must exist (createdb)
and be empty. The copy has a revocation epoch of its own: verifiers that
followed FROM read the whole list again when pointed at TO.

The counts of what was copied go to stderr, and with --output json to stdout.
Keep passwords out of the URLs (PGPASSWORD, ~/.pgpass): other users may see
a process's arguments.`,
		Args: args(2),
		RunE: func(cmd *cobra.Command, a []string) error {
			for _, db := range a {
				if writ.IsURL(db) && urlHasPassword(db) {
					fmt.Fprintf(g.stderr, "writ: warning: the URL %s holds a password, which other users of this machine may see in its process list: use PGPASSWORD or ~/.pgpass\n", writ.RedactURL(db))
				}
			}
			c, err := writ.CopyDatabase(cmd.Context(), a[0], a[1])
			switch {
			case errors.Is(err, writ.ErrNotEmpty):
				return withHint(err, "copy into a new database: an SQLite file that does not exist, or an empty PostgreSQL database")
			case errors.Is(err, writ.ErrNoDatabase):
				return withHint(err, "FROM must be a writ database; a PostgreSQL TO must exist already (createdb NAME)")
			case err != nil:
				return err
			}
			fmt.Fprintf(g.stderr, "writ: copied %s to %s: %d keys, %d tokens, %d revocations (%d packed chunks), %d audit events, %d usage summaries, %d meta values\n",
				dbName(a[0]), dbName(a[1]), c.Keys, c.Tokens, c.Revocations, c.PackedChunks, c.Audit, c.Usage, c.Meta)
			if g.output == "json" {
				return writeJSON(g.stdout, c)
			}
			return nil
		},
	})
	return cmd
}
