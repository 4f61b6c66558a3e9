package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
)

func newVerifyCmd(g *globals) *cobra.Command {
	var (
		jwksPath, paserkPath string
		revocationsPath      string
		audience             string
		scopes, algs         []string
	)
	cmd := &cobra.Command{
		Use:   "verify --jwks PATH [--paserk PATH] --issuer ISS --audience AUD [--require-scope S]... [--revocations DB] TOKEN|-",
		Short: "Verify a token offline and print its claims",
		Long: `verify checks a token (or, given "-", the token on standard input) against
the public keys in a JWKS and/or PASERK set file, the issuer and the
audience, and optionally required scopes and the revocation list of a writ
database.

Valid: exit 0 and the claims as JSON on stdout. Invalid: exit 1 and one line
on stderr naming the reason. Usage error: exit 2.

The accepted algorithms are those of the keys in the sets, unless --alg
narrows them; each key verifies only the algorithm it was published with.`,
		Args: args(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if jwksPath == "" && paserkPath == "" {
				return usagef("--jwks or --paserk is required")
			}
			if audience == "" {
				return usagef("--audience is required")
			}
			if !cmd.Flags().Changed("issuer") && os.Getenv("WRIT_ISSUER") == "" {
				return usagef("--issuer is required")
			}
			token, err := readToken(a[0], g.stdin)
			if err != nil {
				return err
			}
			ks, err := loadKeySets(jwksPath, paserkPath)
			if err != nil {
				return err
			}
			if len(algs) == 0 {
				algs = keySetAlgorithms(ks)
			}
			cfg := verifier.Config{
				Issuer:     g.issuer,
				Audience:   audience,
				Algorithms: algs,
				Keys:       ks,
			}
			if revocationsPath != "" {
				snap, closeDB, err := loadRevocations(cmd.Context(), revocationsPath)
				if err != nil {
					return err
				}
				defer closeDB()
				cfg.Revocation = snap
			}
			v, err := verifier.New(cfg)
			if err != nil {
				return usageError{err}
			}
			c, err := v.Verify(cmd.Context(), token)
			if err == nil {
				err = c.RequireScopes(scopes...)
			}
			if err != nil {
				return fmt.Errorf("invalid token: %w", err)
			}
			_, err = g.stdout.Write(append(c.RawJSON(), '\n'))
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&jwksPath, "jwks", "", "JWKS `file` with the JWT keys")
	fl.StringVar(&paserkPath, "paserk", "", "PASERK set `file` with the PASETO keys")
	fl.StringVar(&audience, "audience", "", "the audience that must be among the token's aud")
	fl.StringArrayVar(&scopes, "require-scope", nil, "a scope the token must carry; repeatable")
	fl.StringVar(&revocationsPath, "revocations", "", "reject revoked tokens, per this writ database `file`")
	fl.StringArrayVar(&algs, "alg", nil, "an accepted algorithm (EdDSA, ES256, RS256, PS256, v4.public); repeatable")
	return cmd
}

// readToken takes the token from the argument, or from stdin for "-".
func readToken(arg string, stdin io.Reader) (string, error) {
	if arg != "-" {
		return arg, nil
	}
	// Read a little past the verifier's limit, so that an oversized token
	// still reaches Verify and gets its proper error.
	data, err := io.ReadAll(io.LimitReader(stdin, verifier.MaxTokenSize+64))
	if err != nil {
		return "", fmt.Errorf("read token from stdin: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

func loadKeySets(jwksPath, paserkPath string) (*verifier.KeySet, error) {
	var sets []*verifier.KeySet
	for _, src := range []struct {
		path string
		read func(string) (*verifier.KeySet, error)
	}{{jwksPath, verifier.ReadJWKSFile}, {paserkPath, verifier.ReadPASERKFile}} {
		if src.path == "" {
			continue
		}
		if strings.HasPrefix(src.path, "http://") || strings.HasPrefix(src.path, "https://") {
			return nil, usageError{errors.New("key sets by URL are not supported yet: download the set and pass its file")}
		}
		ks, err := src.read(src.path)
		if err != nil {
			return nil, err
		}
		sets = append(sets, ks)
	}
	return verifier.MergeKeySets(sets...)
}

// loadRevocations takes a snapshot of the revocation list of the database
// at path.
func loadRevocations(ctx context.Context, path string) (*revocation.Snapshot, func() error, error) {
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		return nil, nil, usageError{errors.New("revocation feeds by URL are not supported yet: pass the database file")}
	}
	db, err := store.Open(ctx, path, false)
	if err != nil {
		return nil, nil, fmt.Errorf("--revocations: %w", err)
	}
	list, err := revocation.NewList(revocation.Config{DB: db, MaxTTL: issuer.DefaultMaxTTL})
	if err == nil {
		var snap *revocation.Snapshot
		if snap, err = revocation.NewSnapshot(ctx, revocation.SnapshotConfig{Feed: list}); err == nil {
			return snap, db.Close, nil
		}
	}
	db.Close()
	return nil, nil, err
}

// keySetAlgorithms lists the algorithms of the keys in ks.
func keySetAlgorithms(ks *verifier.KeySet) []string {
	var algs []string
	for _, k := range ks.Keys() {
		if !contains(algs, k.Algorithm()) {
			algs = append(algs, k.Algorithm())
		}
	}
	return algs
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
