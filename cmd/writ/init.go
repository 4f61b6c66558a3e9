package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/verifier"
)

func newInitCmd(g *globals) *cobra.Command {
	var alg string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the database, the master key and the first keys",
		Long: `init creates the SQLite database, a key-encryption key file beside it
(mode 0600; skipped when WRIT_MASTER_KEY is set), and for each format (JWT
and PASETO) an active signing key and a published next key.

Running it again on an initialised database only adds missing keys.`,
		Args: args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch alg {
			case verifier.EdDSA, verifier.ES256, verifier.RS256, verifier.PS256:
			default:
				return usagef("--alg must be EdDSA, ES256, RS256 or PS256, not %q", alg)
			}
			s, added, err := g.initialize(cmd.Context(), alg)
			if err != nil {
				return err
			}
			defer s.Close()
			for _, k := range added {
				fmt.Fprintf(g.stderr, "writ: generated %s\n", k)
			}
			if len(added) == 0 {
				fmt.Fprintf(g.stderr, "writ: %s is already initialised\n", g.db)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&alg, "alg", verifier.EdDSA, "JWT signing algorithm: EdDSA, ES256, RS256 or PS256")
	return cmd
}

// initialize creates what is missing of the database, its master key file
// and its keys, reporting on stderr, and returns the opened state and the
// keys it generated.
func (g *globals) initialize(ctx context.Context, alg string) (*writ.DB, []*keys.Key, error) {
	newDB := g.noDatabase()
	var createdKey os.FileInfo // the master key file this run created
	if os.Getenv("WRIT_MASTER_KEY") == "" {
		if _, err := os.Stat(g.keyFile()); errors.Is(err, os.ErrNotExist) {
			if !newDB {
				return nil, nil, withHint(fmt.Errorf("database %q exists but its master key file %q does not", g.db, g.keyFile()),
					"set WRIT_MASTER_KEY or --master-key-file to the key this database was created with")
			}
			if _, err := keys.GenerateMasterKeyFile(g.keyFile()); err != nil {
				return nil, nil, err
			}
			createdKey, _ = os.Lstat(g.keyFile())
		}
	}
	s, err := g.openAs(ctx, writ.Config{Create: true})
	if err != nil && createdKey != nil && g.noDatabase() {
		// A key for a database that was not made would be taken for
		// that database's key by the next init: remove it, if it is
		// still the one created above.
		if fi, lerr := os.Lstat(g.keyFile()); lerr == nil && os.SameFile(fi, createdKey) && os.Remove(g.keyFile()) == nil {
			createdKey = nil
		}
	}
	if createdKey != nil {
		fmt.Fprintf(g.stderr, "writ: created master key %s (mode 0600): back it up; without it the keys cannot be used\n", g.keyFile())
	}
	if err != nil {
		return nil, nil, err
	}
	if newDB {
		fmt.Fprintf(g.stderr, "writ: created database %s\n", g.db)
	}
	added, err := s.Keys.Ensure(ctx, alg)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, added, nil
}

// noDatabase reports whether the database path holds no database yet:
// no file, or an empty one (see writ.Config.Create).
func (g *globals) noDatabase() bool {
	fi, err := os.Stat(g.db)
	return errors.Is(err, os.ErrNotExist) || err == nil && fi.Size() == 0
}
