package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/session"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/verifier"
)

func newServeCmd(g *globals) *cobra.Command {
	var (
		rc       server.RunConfig
		maxAge   time.Duration
		refresh  time.Duration
		period   time.Duration
		floor    time.Duration
		logLevel string
		private  bool
		waiters  int
		idle     time.Duration

		trustedProxies []netip.Prefix
	)
	cmd := &cobra.Command{
		Use:   "serve [--addr 127.0.0.1:8080]",
		Short: "Publish the keys and serve the admin API",
		Long: `serve publishes the key sets (/.well-known/jwks.json, /.well-known/paserk.json),
the discovery document (/.well-known/oauth-authorization-server) and the
signed revocation feed (/v1/revocations), and serves the admin API under
/v1/tokens and /v1/permissions (the catalogue, see writ permissions), the audit
log (/v1/audit, paged back with ?before=), RFC 7662 introspection (/v1/introspect), RFC 7009 revocation
(/v1/revoke), /v1/whoami, /healthz, /readyz and /metrics, and the web
console at /ui/ (sign in with a writ:admin or writ:issue token for the
issuer's own audience, or a link from writ console link). A console
session ends after --console-idle without a request.

On first start it creates the database, master key and keys, like writ init.
It rotates the keys every --rotation-period, once the next key has been
published for --max-age plus 30s and --publish-floor (see writ keys rotate),
removes retired keys once their tokens have expired, and prunes the
revocations whose tokens have all expired (see writ revocations prune).
The admin API takes writ tokens with the scope writ:admin for the issuer's
own audience. The revocation feed is public unless --private-feed: it then
takes writ tokens with the scope writ:revocations for the issuer's own
audience (the feed names the subjects whose tokens were revoked). A read
of the feed with ?wait=SECONDS (up to 30) that finds nothing new is held
until the list changes: remote verifiers learn of a revocation at once
without polling; at most --max-feed-waiters are held, further reads are
answered at once. SIGINT or SIGTERM shut it down gracefully, answering the
held reads at once.

A token bound to networks (writ token issue --allow-ip) authenticates only
from inside them: the client address is the connection's, or, for a
connection from a --trusted-proxy, the last address its Forwarded or
X-Forwarded-For header gives that is not itself a trusted proxy. Trust
only proxies that set these headers: others let clients choose their
address. Introspection answers for a bound token wherever it is asked
from, and reports its allowed_ips.

Unless --issuer or WRIT_ISSUER says otherwise, the issuer is the address
served: http://ADDR, or https:// with --tls-cert.`,
		Args: args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return usagef("--log-level %q: want debug, info, warn or error", logLevel)
			}
			if (rc.TLSCert == "") != (rc.TLSKey == "") {
				return usagef("--tls-cert and --tls-key go together")
			}
			if _, _, err := net.SplitHostPort(rc.Addr); err != nil {
				return usagef("--addr %q: want host:port", rc.Addr)
			}
			if idle < session.MinIdle {
				return usagef("--console-idle %v: want at least %v, at most %v", idle, session.MinIdle, session.MaxAge)
			}
			if waiters < 0 {
				return usagef("--max-feed-waiters %d: want 0 or more", waiters)
			}
			if waiters == 0 {
				waiters = -1 // none held, rather than the default
			}
			if !cmd.Flags().Changed("issuer") && !envSet("WRIT_ISSUER") {
				scheme := "http://"
				if rc.TLSCert != "" {
					scheme = "https://"
				}
				g.issuer = scheme + rc.Addr
			}
			// A next key signs only once it has been published for a key
			// set's cache lifetime, plus the verifiers' leeway, and for
			// the floor that covers caches that ignore max-age.
			g.policy = keys.Policy{Period: period, MinPublished: maxAge + verifier.DefaultLeeway, PublishFloor: publishFloor(floor)}
			log := slog.New(slog.NewJSONHandler(g.stderr, &slog.HandlerOptions{Level: level}))
			ctx := cmd.Context()
			st, added, err := g.initialize(ctx, verifier.EdDSA, idle)
			if err != nil {
				return err
			}
			defer st.Close()
			for _, k := range added {
				fmt.Fprintf(g.stderr, "writ: generated %s\n", k)
			}
			// Listening before the server first reads: no change is
			// missed in between.
			keysChanged, revocationsChanged, err := st.Changes(ctx)
			if err != nil {
				return err
			}
			srv, err := server.New(ctx, server.Config{
				Issuer: g.issuer, Ping: st.Ping, Ring: st.Keys, Tokens: st.Issuer, Revocations: st.Revocations,
				Audit: st.Audit, Sessions: st.Sessions,
				MaxAge: maxAge, Refresh: refresh, PrivateFeed: private, MaxFeedWaiters: waiters, Log: log, TrustedProxies: trustedProxies,
				RotationCheck: rotationCheck(period),
				KeysChanged:   keysChanged, RevocationsChanged: revocationsChanged,
			})
			if err != nil {
				return err
			}
			defer srv.Close()
			rc.OnListen = func(addr net.Addr) {
				fmt.Fprintf(g.stderr, "writ: serving %s on %s (database %s)\n", g.issuer, addr, g.dbName())
				db := "--db " + shellQuote(g.db) + " "
				if urlHasPassword(g.db) {
					db = "" // never print a password: the command runs with the same WRIT_DB
				}
				fmt.Fprintf(g.stderr, "writ: hint: for an admin token run: writ token issue %s--issuer %s --subject admin --audience %s --scope %s --ttl 1h\n",
					db, shellQuote(g.issuer), shellQuote(g.issuer), server.AdminScope)
				fmt.Fprintf(g.stderr, "writ: hint: for the web console at %s/ui/ run: writ console link %s--issuer %s\n",
					g.issuer, db, shellQuote(g.issuer))
			}
			if err := srv.Run(ctx, rc); err != nil {
				return err
			}
			fmt.Fprintln(g.stderr, "writ: stopped")
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&rc.Addr, "addr", "127.0.0.1:8080", "`host:port` to listen on")
	fl.StringVar(&rc.TLSCert, "tls-cert", "", "TLS certificate `file` (PEM)")
	fl.StringVar(&rc.TLSKey, "tls-key", "", "TLS private key `file` (PEM)")
	durationVar(fl, &maxAge, "max-age", 5*time.Minute, server.MaxMaxAge, "Cache-Control max-age of the key sets")
	durationVar(fl, &period, "rotation-period", keys.DefaultPeriod, maxDuration, "rotate the signing keys this often")
	durationVar(fl, &floor, "publish-floor", keys.DefaultPublishFloor, maxDuration, "the least time a next key is published before it signs, whatever --max-age says (0: none)")
	durationVar(fl, &refresh, "refresh", time.Second, server.MaxRefresh, "how often to pick up keys and revocations changed by the CLI or other servers (on PostgreSQL their changes are announced, and picked up at once)")
	durationVar(fl, &rc.ShutdownTimeout, "shutdown-timeout", 10*time.Second, maxDuration, "how long requests in flight may take to finish at shutdown")
	durationVar(fl, &idle, "console-idle", session.DefaultIdle, session.MaxAge, "how long a web console session lasts without a request (1m to 12h)")
	fl.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	networksVar(fl, &trustedProxies, "trusted-proxy", "a reverse proxy's network (`CIDR` or address) whose Forwarded and X-Forwarded-For headers name the client; repeatable")
	fl.BoolVar(&private, "private-feed", false, "serve the revocation feed only to tokens with the scope "+server.FeedScope)
	fl.IntVar(&waiters, "max-feed-waiters", server.DefaultMaxFeedWaiters, "the most reads of the revocation feed held until the list changes (?wait=), a tenth of them per client address or IPv6 /64; further ones are answered at once (0: none held)")
	return cmd
}

// rotationCheck is how often serve applies the rotation policy: every
// minute, or four times a period shorter than four minutes (in
// demonstrations and tests), but at most every second.
func rotationCheck(period time.Duration) time.Duration {
	if period == 0 || period >= 4*time.Minute {
		return time.Minute
	}
	return max(period/4, time.Second)
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`!*?[]{}();&|<>~#") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
