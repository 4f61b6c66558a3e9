package writ

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/remote"
	"github.com/writ-dev/writ/verifier/revoked"
)

// RevocationsConfig says how LoadRevocations reads a writ server's signed
// revocation feed; a database file needs none of it.
type RevocationsConfig struct {
	// Issuer is the writ server whose feed it is (the iss it signs).
	// Required for a feed.
	Issuer string
	// Keys verify the feed's signature: the server's own JWT key set
	// (remote.KeySets.JWT, or a remote.KeySet), not one merged with other
	// issuers' keys. Required for a feed.
	Keys verifier.KeySource
	// Token, when set, returns the bearer token presented to a private
	// feed (writ serve --private-feed): a token of the server with the
	// scope writ:revocations. writ verify takes it from WRIT_FEED_TOKEN.
	Token func(context.Context) (string, error)
	// Client makes the requests; nil means a client with a 30s timeout.
	Client *http.Client
	// MaxStaleness, when set, fails every check closed (revoked.ErrStale)
	// if the feed or manifest was signed longer ago than this: a copy
	// that a cache or a static host froze. A database is always current.
	MaxStaleness time.Duration
}

// LoadRevocations takes a snapshot of a revocation list once, for a
// verifier's Config.Revocation, as writ verify --revocations does: for
// the URL of a revocation manifest (a path ending in
// remote.ManifestPath) or the issuer URL itself, from the issuer's signed
// snapshot files and deltas (remote.EdgeFeed), as writ serve serves them
// or a static host serves a writ publish tree; for another http or https
// URL (remote.IsURL), from a writ server's signed feed (see remote.Feed);
// else from the writ database at location (a file, or a PostgreSQL URL:
// see OpenRevocations), opened only to read and without its master key. A database that this process may not
// write is read as Config.ReadOnlyOK says.
//
// The snapshot is not refreshed, and from a database file cannot be: the
// file is closed before LoadRevocations returns. A verifier that runs on
// makes a revoked.Snapshot with a Refresh interval over a remote.Feed
// (which links no database), or over DB.Revocations.
func LoadRevocations(ctx context.Context, location string, cfg RevocationsConfig) (*revoked.Snapshot, error) {
	var feed revoked.Feed
	stale := cfg.MaxStaleness
	if manifest := manifestURL(location, cfg.Issuer); manifest != "" {
		f, err := remote.NewEdgeFeed(remote.EdgeFeedConfig{URL: manifest, Issuer: cfg.Issuer, Keys: cfg.Keys, Token: cfg.Token, Client: cfg.Client})
		if err != nil {
			return nil, err
		}
		feed = f
	} else if remote.IsURL(location) {
		f, err := remote.NewFeed(remote.FeedConfig{URL: location, Issuer: cfg.Issuer, Keys: cfg.Keys, Token: cfg.Token, Client: cfg.Client})
		if err != nil {
			return nil, err
		}
		feed = f
	} else {
		list, closeList, err := OpenRevocations(ctx, location)
		if err != nil {
			return nil, err
		}
		defer closeList()
		feed, stale = list, 0
	}
	return revoked.NewSnapshot(ctx, revoked.SnapshotConfig{Feed: feed, MaxStaleness: stale})
}

// manifestURL returns the revocation manifest's URL that location names,
// itself or its issuer's, or "" when it names none.
func manifestURL(location, issuer string) string {
	if !remote.IsURL(location) {
		return ""
	}
	if u, err := url.Parse(location); err == nil && strings.HasSuffix(u.Path, remote.ManifestPath) {
		return location
	}
	if issuer != "" && strings.TrimSuffix(location, "/") == strings.TrimSuffix(issuer, "/") {
		return strings.TrimSuffix(issuer, "/") + remote.ManifestPath
	}
	return ""
}
