package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/text"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
)

func newKeysCmd(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "keys",
		Short: "Inspect the signing keys",
	})
	var reason string
	compromise := &cobra.Command{
		Use:   "compromise KID [--reason R]",
		Short: "Cut a leaked key off at once",
		Long: `compromise revokes every token the key KID signed, takes the key out of
the key sets, destroys its private half and, if it was signing, activates
the published next key and publishes a fresh next key, so that issuing
never stops: all in one transaction, on disk before the command returns.

Verifiers that check revocations reject its tokens at their next refresh.
Third-party gateways that only cache the key set keep trusting the key until
their cache expires.`,
		Args: args(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			s, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			// One transaction: the key stops signing and its tokens are
			// revoked together, or neither happens.
			e, err := s.Keys.Compromise(cmd.Context(), a[0], revocation.Options{Reason: reason, Actor: actor()})
			if err != nil {
				return err
			}
			if e == (revocation.Entry{}) && g.output != "json" {
				fmt.Fprintf(g.stdout, "withdrew key row %s, which writ never trusted: no token to revoke\n", text.Escape(a[0]))
				return nil
			}
			return printEntry(g, e)
		},
	}
	compromise.Flags().StringVar(&reason, "reason", "", "why, for the record")
	cmd.AddCommand(compromise, newKeysRotateCmd(g))
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List keys with their state and timeline",
		Long: `list shows every key: its state (next, active, retired, removed,
compromised) and its timeline: created, activated (began to sign), retired
(stopped signing), retires (leaves the key sets, once the last token it
signed has expired) and removed.

A key row that the master key does not vouch for (someone wrote or changed
it without the master key) is marked UNTRUSTED, and list then exits 1: writ
neither publishes nor trusts it. Compromise it once investigated.`,
		Args: args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.openRead(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			recs, err := s.Keys.List(cmd.Context())
			if err != nil {
				return err
			}
			if g.output == "json" {
				type key struct {
					KID         string     `json:"kid"`
					Format      string     `json:"format"`
					Alg         string     `json:"alg"`
					State       string     `json:"state"`
					Created     time.Time  `json:"created"`
					Activated   *time.Time `json:"activated,omitempty"`
					Retired     *time.Time `json:"retired,omitempty"`
					Retires     *time.Time `json:"retires,omitempty"`
					Removed     *time.Time `json:"removed,omitempty"`
					Compromised *time.Time `json:"compromised,omitempty"`
					Untrusted   bool       `json:"untrusted,omitempty"`
				}
				out := []key{}
				for _, r := range recs {
					out = append(out, key{r.ID, string(r.Format), string(r.Algorithm), string(r.State), r.CreatedAt,
						timePtr(r.ActivatedAt), timePtr(r.RetiredAt), timePtr(r.UnpublishAt), timePtr(r.RemovedAt), timePtr(r.CompromisedAt), r.Untrusted})
				}
				if err := writeJSON(g.stdout, out); err != nil {
					return err
				}
				return untrustedKeys(recs)
			}
			rows := [][]string{{"KID", "FORMAT", "ALG", "STATE", "CREATED", "ACTIVATED", "RETIRED", "RETIRES", "REMOVED"}}
			for _, r := range recs {
				removed := r.RemovedAt
				if r.State == keys.Compromised {
					removed = r.CompromisedAt
				}
				state := string(r.State)
				if r.Untrusted {
					state += " UNTRUSTED"
				}
				rows = append(rows, []string{r.ID, string(r.Format), string(r.Algorithm), state,
					when(r.CreatedAt), when(r.ActivatedAt), when(r.RetiredAt), when(r.UnpublishAt), when(removed)})
			}
			if err := table(g.stdout, rows); err != nil {
				return err
			}
			return untrustedKeys(recs)
		},
	})
	return cmd
}

func newKeysRotateCmd(g *globals) *cobra.Command {
	var (
		format, alg string
		force, auto bool
		policy      keys.Policy
		maxAge      time.Duration
		floor       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "rotate [--format jwt|paseto] [--force] [--alg ALG] | --auto",
		Short: "Make the next key sign, retire the active one, publish a fresh next key",
		Long: `rotate makes the format's published next key active, retires the active
key (it stays in the key sets until the last token it signed has expired)
and publishes a fresh next key.

It refuses while the next key has been published for less than the
longest of:
  --max-age (the key sets' Cache-Control max-age, as given to writ serve)
    plus 30s, so that no verifier meets a key it has not fetched;
  the max-age and refresh interval that a running writ serve records in
    the database, plus 30s;
  --publish-floor (default 16m): popular JWKS caches refresh on floors of
    their own whatever max-age says (lestrrat-go/jwx's cache at most every
    15 minutes by default, keyfunc refetches an unknown kid at most every 5
    minutes, Envoy's remote_jwks keeps a set for its cache_duration: raise
    the floor to cover it); 0 means no floor.
--force overrides all of these, for emergencies. --alg sets the algorithm
of the fresh next key: it signs from the rotation after this one.

--auto rotates each format whose active key has signed for --period, and
removes retired keys whose tokens have all expired: run it from cron, or let
writ serve do it.`,
		Args: args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if auto && (force || alg != "" || cmd.Flags().Changed("format")) {
				return usagef("--auto rotates what is due; it takes no --format, --force or --alg")
			}
			f, err := keys.ParseFormat(format)
			if err != nil {
				return usageError{err}
			}
			policy.MinPublished = maxAge + verifier.DefaultLeeway
			policy.PublishFloor = publishFloor(floor)
			g.policy = policy
			s, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			var rots []keys.Rotation
			if auto {
				rots, err = s.Keys.RotateDue(cmd.Context())
			} else {
				var rot *keys.Rotation
				if rot, err = s.Keys.Rotate(cmd.Context(), f, keys.RotateOptions{Force: force, NextAlg: verifier.Algorithm(alg)}); err == nil {
					rots = append(rots, *rot)
				}
			}
			if errors.Is(err, keys.ErrTooEarly) {
				return withHint(err, "wait until verifiers have fetched the next key, or use --force in an emergency")
			}
			if err != nil {
				return err
			}
			if g.output == "json" {
				if rots == nil {
					rots = []keys.Rotation{}
				}
				return writeJSON(g.stdout, rots)
			}
			for _, r := range rots {
				fmt.Fprintf(g.stdout, "%s: %s signs now; retired %s; published %s\n", r.Format, r.Activated, orNone(r.Retired), r.Published)
			}
			if auto && len(rots) == 0 {
				fmt.Fprintln(g.stdout, "no rotation due")
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&format, "format", "jwt", "token format: jwt or paseto")
	fl.BoolVar(&force, "force", false, "rotate even if the next key is newer than --max-age or --publish-floor")
	fl.StringVar(&alg, "alg", "", "algorithm of the fresh next key (default: that of the key now activated)")
	fl.BoolVar(&auto, "auto", false, "rotate only the formats that are due, per --period")
	durationVar(fl, &policy.Period, "period", keys.DefaultPeriod, maxDuration, "with --auto: how long a key signs before rotation")
	durationVar(fl, &maxAge, "max-age", 5*time.Minute, server.MaxMaxAge, "the key sets' Cache-Control max-age")
	durationVar(fl, &floor, "publish-floor", keys.DefaultPublishFloor, maxDuration, "the least time a next key is published before it signs, whatever --max-age says (0: none)")
	return cmd
}

// untrustedKeys reports the key rows that the master key does not vouch
// for, if any.
func untrustedKeys(recs []keys.Record) error {
	var kids []string
	for _, r := range recs {
		if r.Untrusted {
			kids = append(kids, r.ID)
		}
	}
	if len(kids) == 0 {
		return nil
	}
	return withHint(fmt.Errorf("%w: %q, written without the master key: writ neither publishes nor trusts them", keys.ErrUntrusted, kids),
		"find out who wrote them, then retire them with writ keys compromise KID")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
