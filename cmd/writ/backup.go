package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ"
)

func newBackupCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Copy the database, consistently, while it is in use",
		Long: `backup writes a consistent copy of the database to FILE (mode 0600), which
must not exist, while writ serve and other commands go on using it. Copying
the database file itself is not safe while it is in use: recent changes may
still be in its -wal file.

The copy holds the keys sealed with the master key, not the master key
itself: back that up separately, and keep it apart from the copies. To
restore, stop writ and put the copy in place of the database.`,
		Args: args(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if writ.IsURL(g.db) {
				return withHint(errors.New("backup copies an SQLite database: a PostgreSQL database is backed up with its own tools"),
					"run pg_dump, or writ db copy to an SQLite file")
			}
			if err := g.dbExists(); err != nil {
				return err
			}
			// No master key needed: the sealed keys are copied as they
			// are. Reading is enough.
			if err := writ.BackupFile(cmd.Context(), g.db, a[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "writ: backed up %s to %s\n", g.db, a[0])
			return nil
		},
	}
}
