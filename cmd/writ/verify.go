package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/text"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/remote"
	"github.com/writ-dev/writ/verifier/revoked"
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

--jwks, --paserk and --revocations take files or URLs: a writ server's
/.well-known/jwks.json, /.well-known/paserk.json and /v1/revocations (whose
signature the JWT key set verifies). --revocations also takes the server's
SQLite database file. For a private feed (writ serve --private-feed), set
WRIT_FEED_TOKEN to a token of the server with the scope writ:revocations.

The accepted algorithms are those of the keys in the sets, unless --alg
narrows them; each key verifies only the algorithm it was published with.

A key that writ cannot use (another type, curve or algorithm, use "enc",
no kid, a weak or malformed key) is ignored, as RFC 7517 asks, with a line
"writ: warning: …" on stderr; a token naming it fails as an unknown key. A
set with private key material, or with no usable key, is refused.`,
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
			ks, jwtKeys, err := loadKeySets(cmd.Context(), jwksPath, paserkPath, g.stderr)
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
				snap, done, err := loadRevocations(cmd.Context(), revocationsPath, g.issuer, jwtKeys)
				if err != nil {
					return err
				}
				defer done()
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
	fl.StringVar(&jwksPath, "jwks", "", "JWKS `file or URL` with the JWT keys")
	fl.StringVar(&paserkPath, "paserk", "", "PASERK set `file or URL` with the PASETO keys")
	fl.StringVar(&audience, "audience", "", "the audience that must be among the token's aud")
	fl.StringArrayVar(&scopes, "require-scope", nil, "a scope the token must carry; repeatable")
	fl.StringVar(&revocationsPath, "revocations", "", "reject revoked tokens, per this writ database `file` or feed URL")
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

// isURL reports whether a --jwks, --paserk or --revocations value is a URL.
func isURL(s string) bool { return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") }

// loadKeySets reads the key sets from files or URLs, and warns on stderr of
// each key a set holds that the verifier ignores. The JWT set is also
// returned alone: it verifies the revocation feed.
func loadKeySets(ctx context.Context, jwksPath, paserkPath string, stderr io.Writer) (all, jwt *verifier.KeySet, err error) {
	var sets []*verifier.KeySet
	for _, src := range []struct {
		path  string
		parse remote.Parser
	}{{jwksPath, verifier.ParseJWKS}, {paserkPath, verifier.ParsePASERKSet}} {
		if src.path == "" {
			continue
		}
		var ks *verifier.KeySet
		if isURL(src.path) {
			rk, err := remote.NewKeySet(ctx, remote.KeySetConfig{URL: src.path, Parse: src.parse})
			if err != nil {
				return nil, nil, err
			}
			ks = rk.Current()
			rk.Close()
		} else {
			data, err := os.ReadFile(src.path)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: %w", verifier.ErrKeySet, err)
			}
			if ks, err = src.parse(data); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", src.path, err)
			}
		}
		for _, k := range ks.Ignored() {
			fmt.Fprintf(stderr, "writ: warning: %s\n", text.Escape(fmt.Sprintf("%s: ignored %s", src.path, k)))
		}
		if src.path == jwksPath {
			jwt = ks
		}
		sets = append(sets, ks)
	}
	all, err = verifier.MergeKeySets(sets...)
	return all, jwt, err
}

// loadRevocations takes a snapshot of the revocation list of the database
// at path, or of the signed feed at a URL, which jwtKeys must verify.
func loadRevocations(ctx context.Context, path, iss string, jwtKeys *verifier.KeySet) (*revoked.Snapshot, func() error, error) {
	var feed revoked.Feed
	done := func() error { return nil }
	if isURL(path) {
		if jwtKeys == nil {
			return nil, nil, usagef("--revocations URL needs --jwks: the feed is signed with the JWT keys")
		}
		cfg := remote.FeedConfig{URL: path, Issuer: iss, Keys: jwtKeys}
		if tok := os.Getenv("WRIT_FEED_TOKEN"); tok != "" {
			cfg.Token = func(context.Context) (string, error) { return tok, nil }
		}
		f, err := remote.NewFeed(cfg)
		if err != nil {
			return nil, nil, err
		}
		feed = f
	} else {
		db, err := store.OpenForReading(ctx, path)
		if store.ReadOnly(err) {
			return nil, nil, withHint(fmt.Errorf("--revocations: %w", err), readOnlyHint)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("--revocations: %w", err)
		}
		list, err := revocation.NewList(revocation.Config{DB: db, MaxTTL: issuer.DefaultMaxTTL})
		if err != nil {
			db.Close()
			return nil, nil, err
		}
		feed, done = list, db.Close
	}
	snap, err := revoked.NewSnapshot(ctx, revoked.SnapshotConfig{Feed: feed})
	if err != nil {
		done()
		return nil, nil, err
	}
	return snap, done, nil
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
