package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/internal/server"
)

func newPublishCmd(g *globals) *cobra.Command {
	var (
		every  time.Duration
		noFeed bool
	)
	cmd := &cobra.Command{
		Use:   "publish DIR",
		Short: "Write the key sets, discovery and revocations as files for a static host",
		Long: `publish writes into DIR what writ serve serves to remote verifiers, so that
any static host, object store or CDN serving DIR at the issuer URL (--issuer)
answers them: DIR/PATH is served at ISSUER/PATH.

  .well-known/jwks.json, .well-known/paserk.json    the public key sets
  .well-known/oauth-authorization-server            discovery
  v1/revocations/feed.jwt                           the whole signed revocation feed
                                                    (not with --no-feed)
  v1/revocations/manifest                           the signed manifest of the
                                                    revocation snapshot and delta
  v1/revocations/snapshots/SHA256.bin               snapshots and deltas, named by
  v1/revocations/deltas/SHA256.jwt                  their content: cache them forever

It keeps the snapshot of the last run, and writes a new delta, until a new
snapshot is due (as writ serve decides: after max(4096, entries/8) changes,
a change of epoch, or an hour). New files come first, the manifest last,
each written whole and renamed into place; snapshots and deltas that no
manifest named for an hour are removed. Files are mode 0644: nothing in
them is secret.

With --no-feed the whole JSON feed is left out: not written, one that an
earlier run left in DIR removed (a stale copy would miss every later
revocation), and not named by discovery. Verifiers written with writ's Go
packages read the snapshot and deltas instead; verifiers in other
languages need the feed. At 1M revoked tokens it saves signing and writing
a 65 MB file on every run.

Verifiers count their staleness from the manifest's signing time: run
publish (or keep it running with --every) more often than their bound.
With --every it publishes again at that interval until SIGINT or SIGTERM,
reporting a failed run and going on.`,
		Args: args(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx := cmd.Context()
			s, err := g.openRead(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			cfg := server.PublishConfig{Dir: a[0], Issuer: g.issuer, Ring: s.Keys, Tokens: s.Issuer, Revocations: s.Revocations,
				Every: every, NoFeed: noFeed}
			for {
				err := publishOnce(ctx, g, cfg)
				if every == 0 {
					return err
				}
				if err != nil && ctx.Err() == nil {
					fmt.Fprintf(g.stderr, "writ: error: publish: %v\n", err)
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(every):
				}
			}
		},
	}
	cmd.Flags().BoolVar(&noFeed, "no-feed", false, "leave out the whole JSON feed (v1/revocations/feed.jwt) and remove an old one")
	durationVar(cmd.Flags(), &every, "every", 0, maxDuration, "publish again at this interval until SIGINT or SIGTERM (0: once)")
	return cmd
}

// publishOnce publishes cfg and prints what it wrote and removed.
func publishOnce(ctx context.Context, g *globals, cfg server.PublishConfig) error {
	p, err := server.Publish(ctx, cfg)
	if err != nil {
		return err
	}
	if g.output == "json" {
		return writeJSON(g.stdout, map[string]any{
			"written": p.Written, "removed": p.Removed, "new_snapshot": p.NewSnapshot,
			"epoch": p.Manifest.Epoch, "seq": p.Manifest.Seq, "snapshot": p.Manifest.Snapshot.Path, "delta": p.Manifest.Delta.Path,
		})
	}
	for _, f := range p.Written {
		fmt.Fprintf(g.stdout, "wrote %s\n", filepath.Join(cfg.Dir, filepath.FromSlash(f)))
	}
	for _, f := range p.Removed {
		fmt.Fprintf(g.stdout, "removed %s\n", filepath.Join(cfg.Dir, filepath.FromSlash(f)))
	}
	state := "kept"
	if p.NewSnapshot {
		state = "new"
	}
	_, err = fmt.Fprintf(g.stdout, "published seq %d: snapshot at seq %d (%s), delta of %d changes\n",
		p.Manifest.Seq, p.Manifest.Snapshot.Seq, state, p.Manifest.Seq-p.Manifest.Snapshot.Seq)
	return err
}
