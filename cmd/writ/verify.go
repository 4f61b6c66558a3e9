package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ"
	"github.com/writ-dev/writ/internal/permission"
	"github.com/writ-dev/writ/internal/text"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/remote"
)

func newVerifyCmd(g *globals) *cobra.Command {
	var (
		jwksPath, paserkPath string
		revocationsPath      string
		maxStale             time.Duration
		audience             string
		scopes, algs         []string
		permissions          []string
		client               netip.Addr
	)
	cmd := &cobra.Command{
		Use:   "verify --jwks PATH [--paserk PATH] --issuer ISS --audience AUD [--require-scope S]... [--require-permission R:A]... [--revocations DB] [--client-ip ADDR] TOKEN|-",
		Short: "Verify a token offline and print its claims",
		Long: `verify checks a token (or, given "-", the token on standard input) against
the public keys in a JWKS and/or PASERK set file, the issuer and the
audience, and optionally required scopes, required permissions and the
revocation list of a writ database.

--require-permission RESOURCE:ACTION names one resource, without
wildcards: the token must hold a permission allowing it, with wildcards
("orders/*:write") and implied actions (admin > write > read).

Valid: exit 0 and the claims as JSON on stdout. Invalid: exit 1 and one line
on stderr naming the reason. Usage error: exit 2.

--jwks, --paserk and --revocations take files or URLs: a writ server's
/.well-known/jwks.json, /.well-known/paserk.json and /v1/revocations (whose
signature the JWT key set verifies). --revocations also takes the revocation
manifest's URL (/v1/revocations/manifest), or the issuer URL itself, to read
the compact snapshot files and deltas that writ serve serves and a static
host of a writ publish tree serves alike, and the server's SQLite database
file. For a private feed (writ serve --private-feed), set
WRIT_FEED_TOKEN to a token of the server with the scope writ:revocations.
A feed or manifest signed longer ago than --max-staleness (default 1h) is a
copy that a cache or a static host froze: every token is then refused, as
revocation data too stale. Publish more often (writ publish --every), or
raise the bound.

--client-ip is the address the token was presented from: a token bound to
networks (writ token issue --allow-ip) is valid only from inside them, and
invalid without --client-ip.

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
			if err := checkRequired(permissions); err != nil {
				return err
			}
			token, err := readToken(a[0], g.stdin)
			if err != nil {
				return err
			}
			ks, err := remote.LoadKeySets(cmd.Context(), remote.KeySources{JWKS: jwksPath, PASERK: paserkPath, OnIgnored: func(location string, k verifier.IgnoredKey) {
				fmt.Fprintf(g.stderr, "writ: warning: %s\n", text.Escape(fmt.Sprintf("%s: ignored %s", location, k)))
			}})
			if err != nil {
				return err
			}
			// Each name as given: verifier.New refuses one it does not know.
			accepted := make([]verifier.Algorithm, len(algs))
			for i, a := range algs {
				accepted[i] = verifier.Algorithm(a)
			}
			if len(accepted) == 0 {
				accepted = ks.Algorithms()
			}
			cfg := verifier.Config{
				Issuer:     g.issuer,
				Audience:   audience,
				Algorithms: accepted,
				Keys:       ks.All,
			}
			if revocationsPath != "" {
				if cfg.Revocation, err = loadRevocations(cmd.Context(), revocationsPath, g.issuer, ks.JWT, maxStale); err != nil {
					return err
				}
			}
			v, err := verifier.New(cfg)
			if err != nil {
				return usageError{err}
			}
			c, err := v.VerifyFrom(cmd.Context(), token, client)
			if err == nil {
				err = c.RequireScopes(scopes...)
			}
			for _, p := range permissions {
				if err == nil {
					err = c.RequirePermission(permission.Split(p))
				}
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
	fl.StringArrayVar(&permissions, "require-permission", nil, "a `RESOURCE:ACTION` the token must allow; repeatable")
	fl.StringVar(&revocationsPath, "revocations", "", "reject revoked tokens, per this writ database `file`, feed URL, manifest URL or issuer URL")
	fl.DurationVar(&maxStale, "max-staleness", time.Hour, "refuse every token when the revocation feed or manifest at a --revocations URL was signed longer ago than this (a copy a cache or static host froze); 0 for no bound")
	fl.TextVar(&client, "client-ip", netip.Addr{}, "the client's `address`: a token bound to networks (allowed_ips) is valid only from inside them, and never without --client-ip")
	fl.StringArrayVar(&algs, "alg", nil, "an accepted algorithm (EdDSA, ES256, RS256, PS256, v4.public); repeatable")
	return cmd
}

// checkRequired refuses, as a usage error, a required permission that
// does not name one resource (no wildcards) and one action.
func checkRequired(permissions []string) error {
	for _, p := range permissions {
		if _, _, err := permission.ParseRequest(p); err != nil {
			return usagef("--require-permission: %v", err)
		}
	}
	return nil
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

// loadRevocations takes a snapshot of the revocation list at location, a
// database file or a feed URL (writ.LoadRevocations), whose signature
// jwtKeys verify.
func loadRevocations(ctx context.Context, location, iss string, jwtKeys *verifier.KeySet, maxStale time.Duration) (verifier.RevocationChecker, error) {
	if maxStale < 0 {
		return nil, usagef("--max-staleness: %s is negative", maxStale)
	}
	cfg := writ.RevocationsConfig{Issuer: iss, MaxStaleness: maxStale}
	feed := remote.IsURL(location)
	if feed {
		if jwtKeys == nil {
			return nil, usagef("--revocations URL needs --jwks: the feed is signed with the JWT keys")
		}
		cfg.Keys = jwtKeys
		if tok := os.Getenv("WRIT_FEED_TOKEN"); tok != "" {
			cfg.Token = func(context.Context) (string, error) { return tok, nil }
		}
	}
	snap, err := writ.LoadRevocations(ctx, location, cfg)
	if err != nil {
		if !feed {
			err = hintReadOnly(fmt.Errorf("--revocations: %w", err))
		}
		return nil, err
	}
	return snap, nil
}
