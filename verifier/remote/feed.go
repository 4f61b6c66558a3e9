package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/writ-dev/writ/internal/feed"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/revoked"
)

// FeedType is the typ of writ's signed revocation feed.
const FeedType = feed.Type

// The list sizes a Feed follows: a writ server's feed of a list of up to
// MaxFeedTokens revoked tokens and MaxFeedOthers revoked subjects and keys
// besides, every entry at its longest, fits in MaxFeedSize. A document
// larger than MaxFeedSize is refused as too large.
const (
	MaxFeedTokens = feed.MaxTokens
	MaxFeedOthers = feed.MaxOthers
	MaxFeedSize   = feed.MaxSize
)

// MaxFeedWait bounds FeedConfig.Wait: the longest a writ server holds a
// read of its feed. A proxy between the verifier and the server must let
// a request go unanswered for longer than the wait; the most, 30 s, stays
// below the 60 s of common proxies' defaults.
const MaxFeedWait = 30 * time.Second

// FeedConfig configures a Feed.
type FeedConfig struct {
	// URL of the feed, such as https://auth.example.com/v1/revocations. Required.
	URL string
	// Issuer is the writ server whose feed it is (the iss it signs). Required.
	Issuer string
	// Keys verify the feed's signature: the server's own JWT key set, not
	// one merged with other issuers' (a feed is bound to its issuer only
	// by the iss it carries, which any key of Keys could sign). Required.
	Keys verifier.KeySource
	// Client makes the requests; nil means a client with a timeout of
	// 30s plus Wait. A client's timeout must exceed Wait.
	Client *http.Client
	// Wait, when set, makes the feed a long-poll (a revoked.WaitingFeed):
	// WaitChanges asks the server (?wait=) to hold a read that finds
	// nothing new until the list changes, for at most Wait, a whole
	// number of seconds up to MaxFeedWait, and a revoked.Snapshot reads
	// it back to back, learning of a revocation as soon as the server
	// has it, rather than at its next refresh. A read that ends with
	// nothing new brings the document signed anew, so the snapshot's
	// staleness stays counted from the server's signature: set
	// SnapshotConfig.MaxStaleness above Wait, plus the server's refresh
	// interval and a second. Zero means no long-poll: the feed is polled.
	Wait time.Duration
	// Token, when set, returns the bearer token presented to a private
	// feed (writ serve --private-feed): a token of the server with scope
	// writ:revocations. It is called for every request, so that it can
	// read a renewed token from a file.
	Token func(context.Context) (string, error)
}

// Feed reads a writ server's signed revocation feed. It implements
// revoked.Feed, for a revoked.Snapshot, and revoked.WaitingFeed, which a
// snapshot reads back to back when FeedConfig.Wait is set. It is safe for
// concurrent use.
type Feed struct {
	cfg FeedConfig
}

var _ revoked.WaitingFeed = (*Feed)(nil)

// NewFeed returns a Feed for cfg. It does no network I/O.
func NewFeed(cfg FeedConfig) (*Feed, error) {
	if cfg.URL == "" || cfg.Issuer == "" || cfg.Keys == nil {
		return nil, errors.New("remote: FeedConfig.URL, Issuer and Keys are required")
	}
	if _, err := url.Parse(cfg.URL); err != nil {
		return nil, fmt.Errorf("remote: feed URL: %w", err)
	}
	client, err := waitClient(cfg.Client, cfg.Wait, "FeedConfig")
	if err != nil {
		return nil, err
	}
	cfg.Client = client
	return &Feed{cfg: cfg}, nil
}

// waitClient checks wait, the Wait of a feed's configuration (named by
// config), and returns a copy of client to make its requests, or, for nil,
// a client with a timeout of 30s plus wait. A client's timeout must
// exceed wait.
func waitClient(client *http.Client, wait time.Duration, config string) (*http.Client, error) {
	switch {
	case wait < 0 || wait > MaxFeedWait || wait%time.Second != 0:
		return nil, fmt.Errorf("remote: %s.Wait %v is not a whole number of seconds from 0 to %v", config, wait, MaxFeedWait)
	case client == nil:
		return &http.Client{Timeout: 30*time.Second + wait}, nil
	case client.Timeout != 0 && client.Timeout <= wait:
		return nil, fmt.Errorf("remote: the client's timeout %v does not exceed %s.Wait %v", client.Timeout, config, wait)
	}
	c := *client
	return &c, nil
}

// Changes implements revoked.Feed: it fetches the feed after since and
// checks its signature (verifier.VerifyDocument), type, issuer and
// sequence before using it.
func (f *Feed) Changes(ctx context.Context, since int64) (*revoked.Batch, error) {
	return f.fetch(ctx, since, 0)
}

// Wait implements revoked.WaitingFeed: FeedConfig.Wait.
func (f *Feed) Wait() time.Duration { return f.cfg.Wait }

// WaitChanges implements revoked.WaitingFeed: Changes, held by the server
// for up to FeedConfig.Wait while the list has nothing after since. A
// server that does not hold reads (an older writ, or one holding as many
// as it will) answers at once.
func (f *Feed) WaitChanges(ctx context.Context, since int64) (*revoked.Batch, error) {
	return f.fetch(ctx, since, f.cfg.Wait)
}

// fetch reads the feed after since, asking the server to hold the read for
// up to wait if it is not zero.
func (f *Feed) fetch(ctx context.Context, since int64, wait time.Duration) (*revoked.Batch, error) {
	u, _ := url.Parse(f.cfg.URL)
	q := u.Query()
	q.Set("since", strconv.FormatInt(since, 10))
	if wait > 0 {
		q.Set("wait", strconv.FormatInt(int64(wait/time.Second), 10))
	}
	u.RawQuery = q.Encode()
	resp, err := get(ctx, f.cfg.Client, u.String(), f.cfg.Token, "", "revocation feed")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusConflict:
		return nil, fmt.Errorf("%w: the feed answers %s to since=%d", revoked.ErrAhead, resp.Status, since)
	default:
		return nil, statusError(resp, "revocation feed")
	}
	body, err := readBody(resp.Body, MaxFeedSize, "revocation feed")
	if err != nil {
		return nil, err
	}
	_, b, err := verifyFeedDocument(ctx, f.cfg.Keys, f.cfg.Issuer, body, since)
	return b, err
}

// get sends a GET request for a revocation document (what names it in
// errors), with the bearer token of a private feed when token is set and
// If-None-Match when etag is.
func get(ctx context.Context, client *http.Client, url string, token func(context.Context) (string, error), etag, what string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	if token != nil {
		tok, err := token(ctx)
		if err != nil {
			return nil, fmt.Errorf("remote: revocation feed token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("remote: fetch %s: %w", what, err)
	}
	return resp, nil
}

// statusError is the error of an answer other than the one expected.
func statusError(resp *http.Response, what string) error {
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return fmt.Errorf("remote: fetch %s: %s (a private feed needs a token with scope writ:revocations)", what, resp.Status)
	}
	return fmt.Errorf("remote: fetch %s: %s", what, resp.Status)
}

// readBody reads a document of at most limit bytes, refusing a larger
// one without reading on.
func readBody(r io.Reader, limit int64, what string) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("remote: read %s: %w", what, err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("remote: %s larger than %d bytes", what, limit)
	}
	return body, nil
}

// verifyFeedDocument checks a signed revocation feed document of issuer
// read after since: its signature by keys, type, issuer, sequence numbers
// and signing time, and returns its head and entries.
func verifyFeedDocument(ctx context.Context, keys verifier.KeySource, issuer string, doc []byte, since int64) (*feed.Head, *revoked.Batch, error) {
	payload, err := verifier.VerifyDocument(ctx, keys, FeedType, string(doc))
	if err != nil {
		return nil, nil, fmt.Errorf("remote: revocation feed: %w", err)
	}
	h, b, err := feed.Decode(payload)
	if err != nil {
		return nil, nil, fmt.Errorf("remote: revocation feed: %w", err)
	}
	switch {
	case h.Issuer != issuer:
		return nil, nil, fmt.Errorf("remote: revocation feed from %q, want %q", h.Issuer, issuer)
	case h.Since > since || h.Seq < since: // one may start before since: writ serve shares documents
		return nil, nil, fmt.Errorf("remote: revocation feed answers since=%d seq=%d for since=%d", h.Since, h.Seq, since)
	case h.IssuedAt <= 0:
		return nil, nil, errors.New("remote: revocation feed without iat")
	}
	// The snapshot counts its age from the time the server signed the
	// feed (the batch's AsOf), so that a replayed old feed does not pass
	// for a fresh one.
	return h, b, nil
}
