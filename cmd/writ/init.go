package main

import (
	"context"
	"errors"
	"fmt"
	"time"

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

With a PostgreSQL URL for --db, init creates writ's tables in that database
(which must exist), and the key-encryption key comes from WRIT_MASTER_KEY or
--master-key-file (created, mode 0600, when the file does not exist and the
database is new): there is no database file to put it beside.

Running it again on an initialised database only adds missing keys.`,
		Args: args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch verifier.Algorithm(alg) {
			case verifier.EdDSA, verifier.ES256, verifier.RS256, verifier.PS256:
			default:
				return usagef("--alg must be EdDSA, ES256, RS256 or PS256, not %q", alg)
			}
			s, added, err := g.initialize(cmd.Context(), verifier.Algorithm(alg), 0)
			if err != nil {
				return err
			}
			defer s.Close()
			for _, k := range added {
				fmt.Fprintf(g.stderr, "writ: generated %s\n", k)
			}
			if len(added) == 0 {
				fmt.Fprintf(g.stderr, "writ: %s is already initialised\n", g.dbName())
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&alg, "alg", string(verifier.EdDSA), "JWT signing algorithm: EdDSA, ES256, RS256 or PS256")
	return cmd
}

// initialize creates what is missing of the database, its master key file
// and its keys (writ.Init), reporting on stderr what it created, and
// returns the opened database, with the console's sessions ending after
// sessionIdle without a request (zero: the default), and the keys it
// generated.
func (g *globals) initialize(ctx context.Context, alg verifier.Algorithm, sessionIdle time.Duration) (*writ.DB, []*keys.Key, error) {
	cfg := writ.InitConfig{
		Config:        writ.Config{Issuer: g.issuer, Actor: actor(), Policy: g.policy, SessionIdle: sessionIdle},
		MasterKeyFile: g.masterKeyFile,
		JWTAlgorithm:  alg,
	}
	g.setDB(&cfg.Config)
	if envSet("WRIT_MASTER_KEY") {
		mk, err := g.masterKey()
		if err != nil {
			return nil, nil, err
		}
		cfg.MasterKey = mk
	}
	s, res, err := writ.Init(ctx, cfg)
	if res.CreatedMasterKeyFile {
		fmt.Fprintf(g.stderr, "writ: created master key %s (mode 0600): back it up; without it the keys cannot be used\n", res.MasterKeyFile)
	}
	if res.CreatedDatabase {
		fmt.Fprintf(g.stderr, "writ: created database %s\n", g.dbName())
	}
	if errors.Is(err, writ.ErrNoMasterKeyForURL) {
		return nil, nil, withHint(err, masterKeyHint)
	}
	if errors.Is(err, writ.ErrNoMasterKeyFile) {
		return nil, nil, withHint(err, "set WRIT_MASTER_KEY or --master-key-file to the key this database was created with")
	}
	if err != nil {
		return nil, nil, err
	}
	return s, res.AddedKeys, nil
}
