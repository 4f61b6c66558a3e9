// Package server is writ serve: it publishes the key sets and discovery
// document, offers the admin API and the RFC 7662/7009 endpoints, and serves
// the signed revocation feed, over one SQLite database shared with the CLI.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/console"
	"github.com/writ-dev/writ/internal/feed"
	"github.com/writ-dev/writ/internal/session"
	"github.com/writ-dev/writ/internal/text"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/revoked"
	verifierusage "github.com/writ-dev/writ/verifier/usage"
)

// AdminScope is the scope that the admin API requires.
const AdminScope = "writ:admin"

// FeedScope is the scope that a private revocation feed requires (see
// Config.PrivateFeed): a verifier's token needs this one, not AdminScope.
const FeedScope = "writ:revocations"

// Config configures a Server.
type Config struct {
	// Issuer is the server's public base URL and the iss of its tokens.
	Issuer string
	// Ping checks that writ's database answers (writ.DB.Ping); Ring,
	// Tokens and Revocations are its parts.
	Ping        func(context.Context) error
	Ring        *keys.Ring
	Tokens      *issuer.Issuer
	Revocations *revocation.List
	// Audit, when set, is served to admins at GET /v1/audit. Audit and
	// Sessions, when Sessions is set, serve the web console at /ui/
	// (package internal/console): the audit log it shows, and the
	// sessions it keeps. Without Sessions there is no console.
	Audit    *audit.Log
	Sessions *session.Store
	// MaxAge is the Cache-Control max-age of the key sets and discovery
	// document; zero means 5 minutes. New refuses a negative one or one
	// above MaxMaxAge.
	MaxAge time.Duration
	// Refresh is how often the server rereads keys and revocations that
	// the CLI or another replica may have changed (the safety net where
	// KeysChanged and RevocationsChanged announce changes); zero means
	// one second. New refuses a negative one or one above MaxRefresh.
	Refresh time.Duration
	// KeysChanged and RevocationsChanged, when set, announce that keys
	// or revocations changed in the database, through another replica or
	// the CLI (writ.DB.Changes): the server rereads them at once rather
	// than at its next Refresh, which stays the safety net. A value may
	// stand for several changes.
	KeysChanged, RevocationsChanged <-chan struct{}
	// RotationCheck is how often the server applies the keyring's rotation
	// policy (keys.Ring.RotateDue), prunes the revocation list
	// (revocation.List.Prune) and the usage summaries
	// (issuer.Issuer.PruneUsage); zero means one minute, negative never.
	RotationCheck time.Duration
	// MaxFeedWaiters bounds the reads of the revocation feed held until
	// the list changes (?wait=): beyond it a read is answered at once, as
	// a plain poll. Zero means DefaultMaxFeedWaiters, negative none.
	MaxFeedWaiters int
	// PrivateFeed has the revocation feed answer only requests bearing a
	// token of this server with FeedScope: the feed names the subjects
	// whose tokens were revoked, which may be people.
	PrivateFeed bool
	// TrustedProxies are the networks of the reverse proxies in front of
	// the server, whose Forwarded and X-Forwarded-For headers name the
	// client (see bearer.ClientAddr): the address that a token bound to
	// networks is checked against when it authenticates its caller.
	TrustedProxies []netip.Prefix
	// Log receives structured logs; nil means slog.Default(). Logs never
	// hold a token or key material, and their text is escaped (see
	// text.Escape): no value makes a line break or a terminal escape.
	Log *slog.Logger
}

// MaxMaxAge and MaxRefresh bound Config.MaxAge and Config.Refresh, so that
// the times and lags computed from them cannot overflow.
const (
	MaxMaxAge  = 10 * 365 * 24 * time.Hour
	MaxRefresh = 24 * time.Hour
)

// Server serves writ's HTTP API. Create it with New.
type Server struct {
	cfg    Config
	log    *slog.Logger
	keys   liveKeys
	snap   *revoked.Snapshot
	verify *verifier.Verifier // admin API: audience is the issuer
	// anyAudience verifies this issuer's tokens for any audience, for
	// introspection and RFC 7009 revocation.
	anyAudience *verifier.Verifier
	docs        documents
	feed        *feedCache
	waiters     *feedWaiters
	edge        *edge // the revocation snapshots for verifiers at the edge
	metrics     *metrics
	console     *console.Console // nil without Config.Sessions
	ready       atomic.Bool
	// untrusted holds the kids of key rows that the master key does not
	// vouch for, as last read: /readyz fails while there are any.
	untrusted atomic.Pointer[[]string]
	// supersededLogged is when the server last logged that its master
	// key was replaced (keys.Ring.MasterKeySuperseded), in unix seconds:
	// it says so once an hour, the metrics say it all along, and it is no
	// reason to stop serving.
	supersededLogged atomic.Int64
	reloadMu         sync.Mutex // one key reload at a time
	// uses records the uses of the tokens that verify verifies (the
	// admin API's, the console's sign-ins, the usage reports'), as a
	// verifier elsewhere reports its own; see recordOwnUses.
	uses *verifierusage.Reporter
	// usageSlot holds a value while a usage report is recorded: one at
	// a time; usageReads one for each report body being read; and
	// usageReporters the reporting tokens with a report in flight (see
	// recordUsage).
	usageSlot, usageReads chan struct{}
	usageReporters        inFlight

	stop  chan struct{}  // ends the background loops
	loops sync.WaitGroup // the background loops
}

// New returns a server for cfg, with its documents loaded.
func New(ctx context.Context, cfg Config) (*Server, error) {
	switch {
	case cfg.Issuer == "" || cfg.Ping == nil || cfg.Ring == nil || cfg.Tokens == nil || cfg.Revocations == nil:
		return nil, errors.New("server: Issuer, Ping, Ring, Tokens and Revocations are required")
	case cfg.MaxAge < 0 || cfg.MaxAge > MaxMaxAge:
		return nil, fmt.Errorf("server: MaxAge %v is not between 0 and %v", cfg.MaxAge, MaxMaxAge)
	case cfg.Sessions != nil && cfg.Audit == nil:
		return nil, errors.New("server: the console (Sessions) needs Audit")
	case cfg.Refresh < 0 || cfg.Refresh > MaxRefresh:
		return nil, fmt.Errorf("server: Refresh %v is not between 0 and %v", cfg.Refresh, MaxRefresh)
	}
	switch {
	case cfg.MaxFeedWaiters == 0:
		cfg.MaxFeedWaiters = DefaultMaxFeedWaiters
	case cfg.MaxFeedWaiters < 0:
		cfg.MaxFeedWaiters = 0
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = 5 * time.Minute
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.RotationCheck == 0 {
		cfg.RotationCheck = time.Minute
	}
	s := &Server{cfg: cfg, log: slog.New(plainLogs{cfg.Log.Handler()}), metrics: newMetrics(), usageSlot: make(chan struct{}, 1), usageReads: make(chan struct{}, maxUsageReads)}
	s.feed = newFeedCache(s.metrics.reg)
	s.waiters = newFeedWaiters(s.metrics.reg, cfg.MaxFeedWaiters)
	s.edge = newEdge(s.metrics.reg)
	registerExpiring(s.metrics.reg, cfg.Tokens)
	if err := s.recordPublicationLag(ctx); err != nil {
		return nil, err
	}
	if err := s.reloadKeys(ctx); err != nil {
		return nil, err
	}
	snap, err := revoked.NewSnapshot(ctx, revoked.SnapshotConfig{
		Feed:    cfg.Revocations,
		Refresh: cfg.Refresh,
		// Should the database stay unreadable, admin tokens and
		// introspection fail closed rather than trust revocations that
		// are out of date.
		MaxStaleness: max(30*cfg.Refresh, 30*time.Second),
		OnError:      func(err error) { s.log.Error("revocation refresh failed", "err", err) },
	})
	if err != nil {
		return nil, err
	}
	s.snap = snap
	if s.uses, err = verifierusage.NewReporter(verifierusage.Config{Send: s.recordOwnUses,
		OnError: func(err error) { s.log.Error("recording the server's own uses failed", "err", err) }}); err != nil {
		snap.Close()
		return nil, err
	}
	fail := func(err error) (*Server, error) {
		_ = s.uses.Close(ctx)
		snap.Close()
		return nil, err
	}
	if s.verify, err = s.verifierFor(cfg.Issuer, verifiedTokenCache); err != nil {
		return fail(err)
	}
	if s.anyAudience, err = s.verifierFor("", verifiedTokenCache); err != nil {
		return fail(err)
	}
	if s.console, err = s.newConsole(); err != nil {
		return fail(err)
	}
	s.stop = make(chan struct{})
	s.loops.Add(2)
	go s.reloadLoop()
	go s.followChanges()
	s.edge.start(s)
	s.ready.Store(true)
	return s, nil
}

// verifiedTokenCache is how many verified tokens each of the server's
// verifiers keeps: at most 8 KiB each.
const verifiedTokenCache = 1024

// verifierFor returns a verifier of the server's own tokens for audience,
// or for any audience and any client address when it is empty (for
// introspection and revocation, asked about someone else's token: the
// caller's address is not the token's client, and introspection reports
// allowed_ips for its caller to check), consulting the live key set and
// revocations, with a verified-token cache of cacheSize.
func (s *Server) verifierFor(audience string, cacheSize int) (*verifier.Verifier, error) {
	var uses verifier.UsageRecorder
	if audience != "" {
		// Not introspection's and revocation's: their caller is not the
		// token's client, but a resource server asking.
		uses = s.uses
	}
	return verifier.New(verifier.Config{
		Usage:             uses,
		Issuer:            s.cfg.Issuer,
		Audience:          audience,
		UnsafeAnyAudience: audience == "",
		UnsafeAnyClient:   audience == "",
		Algorithms:        []verifier.Algorithm{verifier.EdDSA, verifier.ES256, verifier.RS256, verifier.PS256, verifier.V4Public},
		Keys:              &s.keys,
		Revocation:        s.snap,
		// Admins and services send the same token request after request:
		// a cache hit skips the signature check, while key set,
		// revocations and expiry are still checked on every call.
		CacheSize: cacheSize,
	})
}

// liveKeys is the keyring's current key set, swapped whole on reload.
type liveKeys struct {
	set atomic.Pointer[verifier.KeySet]
}

func (l *liveKeys) LookupKey(ctx context.Context, kid string) (*verifier.Key, error) {
	return l.set.Load().LookupKey(ctx, kid)
}

// recordPublicationLag tells rotations, in any process, how long key sets
// this server serves may lag the database: rebuilt every Refresh, cached
// for MaxAge.
func (s *Server) recordPublicationLag(ctx context.Context) error {
	return s.cfg.Ring.RecordPublicationLag(ctx, s.cfg.MaxAge+s.cfg.Refresh)
}

// reloadKeys rereads the published keys and rebuilds the documents.
func (s *Server) reloadKeys(ctx context.Context) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	ks, err := s.cfg.Ring.KeySet(ctx)
	if err != nil {
		return err
	}
	s.keys.set.Store(ks)
	if err := s.docs.load(ctx, s); err != nil {
		return err
	}
	recs, err := s.cfg.Ring.List(ctx)
	if err != nil {
		return err
	}
	var published []keys.Record
	var untrusted []string
	for _, r := range recs {
		switch {
		case r.Untrusted:
			untrusted = append(untrusted, r.ID)
		case r.State == keys.Next || r.State == keys.Active || r.State == keys.Retired:
			published = append(published, r)
		}
	}
	s.metrics.observeKeys(published, untrusted, time.Now())
	if s.cfg.Ring.MasterKeySuperseded() {
		s.metrics.superseded.Set(1)
		if now, last := time.Now().Unix(), s.supersededLogged.Load(); now-last >= 3600 && s.supersededLogged.CompareAndSwap(last, now) {
			s.log.Warn("this server holds the previous master key, which writ master-key rotate replaced: it works with the new one meanwhile; give it the new key (WRIT_MASTER_KEY or --master-key-file) and restart it, before writ master-key finish")
		}
	}
	if prev := s.untrusted.Swap(&untrusted); len(untrusted) > 0 && (prev == nil || !slices.Equal(*prev, untrusted)) {
		msg := "key rows not bound to the master key: written or put back without it, they are neither published nor trusted; compromise them (writ keys compromise KID) once investigated"
		if s.cfg.Ring.Rolledback() {
			msg = "the keyring was put back as an earlier copy had it (its seal is older than one this server read): no key is published or trusted; compromise the keys you do not trust, or restart writ serve if a backup was restored on purpose"
		}
		s.log.Error(msg, "kids", untrusted)
	}
	return nil
}

// Close stops background work and waits for it, recording the uses of
// its own tokens still pending for at most five seconds. Reads of the
// revocation feed still held are answered at once.
func (s *Server) Close() {
	s.waiters.end()
	s.edge.close()
	close(s.stop)
	s.loops.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.uses.Close(ctx); err != nil {
		s.log.Error("recording the server's own uses failed", "err", err)
	}
	s.snap.Close()
}

// Handler returns the server's routes, with logging, metrics, limits and
// panic recovery around them.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc) {
		mux.Handle(pattern, s.instrument(pattern, storableRequest(h)))
	}
	handle("GET /.well-known/jwks.json", s.docs.jwks.serve)
	handle("GET /.well-known/paserk.json", s.docs.paserk.serve)
	handle("GET /.well-known/oauth-authorization-server", s.docs.discovery.serve)
	for pattern, h := range map[string]http.HandlerFunc{
		"GET /v1/revocations":                   s.revocationFeed,
		"GET " + feed.ManifestPath:              s.revocationManifest,
		"GET " + feed.SnapshotPrefix + "{file}": s.edgeFileHandler(feed.SnapshotPrefix, ".bin", "application/octet-stream"),
		"GET " + feed.DeltaPrefix + "{file}":    s.edgeFileHandler(feed.DeltaPrefix, ".jwt", "application/jwt"),
		"GET " + PublishedFeedPath:              s.revocationFeed,
	} {
		if s.cfg.PrivateFeed {
			h = s.withScope(FeedScope, h)
		}
		handle(pattern, h)
	}

	handle("POST /v1/tokens", s.issuing(s.issueToken))
	handle("GET /v1/tokens", s.issuing(s.listTokens))
	handle("GET /v1/tokens/{jti}", s.issuing(s.showToken))
	handle("POST /v1/tokens/{jti}/revoke", s.issuing(s.revokeToken))
	handle("POST /v1/tokens/{jti}/regenerate", s.admin(s.regenerateToken))
	handle("POST /v1/subjects/{subject}/revoke", s.admin(s.revokeSubject))
	handle("GET /v1/policy", s.admin(s.showPolicy))
	handle("PUT /v1/policy", s.admin(s.setPolicy))
	handle("GET /v1/permissions", s.admin(s.listPermissions))
	handle("PUT /v1/permissions/{type}", s.admin(s.definePermissions))
	handle("DELETE /v1/permissions/{type}", s.admin(s.removePermissions))
	if s.cfg.Audit != nil {
		handle("GET /v1/audit", s.admin(s.listAudit))
	}
	handle("POST /v1/introspect", s.admin(s.introspect))
	handle("POST /v1/revoke", s.revoke)
	handle("POST /v1/usage", closeUnread(s.withScope(UsageScope, s.recordUsage)))
	handle("GET /v1/whoami", s.whoami)

	if s.console != nil {
		mux.Handle("/ui/", s.instrument("/ui/", s.console.Handler().ServeHTTP))
		handle("GET /ui", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ui/", http.StatusMovedPermanently) })
	}

	handle("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	handle("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.metrics.handler())
	return s.recoverPanics(mux)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if !s.ready.Load() {
		writeError(w, http.StatusServiceUnavailable, "not_ready", "shutting down")
		return
	}
	if err := s.cfg.Ping(r.Context()); err != nil {
		writeError(w, http.StatusServiceUnavailable, "not_ready", "database unavailable")
		return
	}
	if u := s.untrusted.Load(); u != nil && len(*u) > 0 {
		writeError(w, http.StatusServiceUnavailable, "not_ready",
			fmt.Sprintf("%d key rows are not bound to the master key (see writ keys list)", len(*u)))
		return
	}
	w.Write([]byte("ready\n"))
}

// storableRequest answers 400 to a request whose path or query, decoded,
// is not storable text (text.StorableURL: invalid UTF-8, or a NUL byte):
// no jti, subject or name that writ keeps is such, and PostgreSQL refuses
// them even in a lookup, which would make a server error of a typo. The
// console checks its own requests, to answer them with its pages.
func storableRequest(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !text.StorableURL(r.URL) {
			writeError(w, http.StatusBadRequest, "invalid_request", "the request's path or query is not valid UTF-8 text, or holds a NUL byte")
			return
		}
		next(w, r)
	}
}

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic in handler", "path", r.URL.Path, "panic", fmt.Sprint(v))
				writeError(w, http.StatusInternalServerError, "server_error", "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// RunConfig says where and how to listen.
type RunConfig struct {
	Addr            string
	TLSCert, TLSKey string // both or neither
	ShutdownTimeout time.Duration
	OnListen        func(addr net.Addr) // called once listening
}

// writeTimeout is the server's http.Server WriteTimeout: the time a
// request has to be answered, counted from its reading.
const writeTimeout = 30 * time.Second

// Run serves until ctx is done, then shuts down gracefully: it stops
// accepting, reports not ready, answers the held reads of the revocation
// feed at once, and lets requests in flight finish.
func (s *Server) Run(ctx context.Context, rc RunConfig) error {
	if (rc.TLSCert == "") != (rc.TLSKey == "") {
		return errors.New("server: --tls-cert and --tls-key go together")
	}
	if rc.ShutdownTimeout == 0 {
		rc.ShutdownTimeout = 10 * time.Second
	}
	ln, err := net.Listen("tcp", rc.Addr)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      writeTimeout, // extended for held feed reads (awaitChange)
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	hs.RegisterOnShutdown(s.waiters.end)
	if rc.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(rc.TLSCert, rc.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("server: TLS: %w", err)
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, hs.TLSConfig)
	}
	if rc.OnListen != nil {
		rc.OnListen(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.ready.Store(false)
	s.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), rc.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("server: shutdown: %w", err)
	}
	return nil
}

// reloadLoop rereads keys so that the CLI's changes are served within
// Config.Refresh (or at once, when followChanges hears of them), and
// every RotationCheck records the publication lag, applies the rotation
// policy, prunes revocations whose tokens have all expired and usage
// older than issuer.UsageRetention.
// (Revocations refresh in the snapshot's own loop.)
func (s *Server) reloadLoop() {
	defer s.loops.Done()
	t := time.NewTicker(s.cfg.Refresh)
	defer t.Stop()
	var checked time.Time
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Refresh+time.Minute)
		if s.cfg.RotationCheck > 0 && time.Since(checked) >= s.cfg.RotationCheck {
			checked = time.Now()
			rots, err := s.cfg.Ring.RotateDue(ctx)
			if err != nil {
				s.log.Error("scheduled rotation failed", "err", err)
			}
			for _, r := range rots {
				s.log.Info("rotated keys", "format", r.Format, "activated", r.Activated, "retired", r.Retired, "published", r.Published)
			}
			if err := s.recordPublicationLag(ctx); err != nil {
				s.log.Error("recording the publication lag failed", "err", err)
			}
			if n, err := s.cfg.Revocations.Prune(ctx, "serve"); err != nil {
				s.log.Error("revocation prune failed", "err", err)
			} else if n > 0 {
				s.log.Info("pruned revocations of expired tokens", "entries", n)
			}
			if s.cfg.Sessions != nil {
				if _, err := s.cfg.Sessions.Prune(ctx); err != nil {
					s.log.Error("console session prune failed", "err", err)
				}
			}
			if n, err := s.cfg.Tokens.PruneUsage(ctx); err != nil {
				s.log.Error("usage prune failed", "err", err)
			} else if n > 0 {
				s.log.Info("pruned usage older than the retention", "rows", n)
			}
		}
		if err := s.reloadKeys(ctx); err != nil {
			s.log.Error("key reload failed", "err", err)
		}
		cancel()
	}
}

// followChanges rereads keys and revocations as Config.KeysChanged and
// RevocationsChanged announce changes, one reread at a time: the
// announcements that arrive meanwhile wait as one (each channel holds
// one), so that a burst causes one reread more, not one per change.
func (s *Server) followChanges() {
	defer s.loops.Done()
	keys, revocations := s.cfg.KeysChanged, s.cfg.RevocationsChanged
	for keys != nil || revocations != nil {
		var reread func(context.Context) error
		var what string
		select {
		case <-s.stop:
			return
		case _, ok := <-keys:
			if !ok {
				keys = nil // the watch ended: polling goes on
				continue
			}
			reread, what = s.reloadKeys, "key reload"
		case _, ok := <-revocations:
			if !ok {
				revocations = nil
				continue
			}
			reread, what = s.snap.Refresh, "revocation refresh"
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Refresh+time.Minute)
		if err := reread(ctx); err != nil {
			s.log.Error(what+" failed", "err", err)
		}
		cancel()
	}
}
