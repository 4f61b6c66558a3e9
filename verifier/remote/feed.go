package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/jws"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
)

// FeedType is the typ of writ's signed revocation feed.
const FeedType = "writ-revocations+jwt"

// The list sizes a Feed follows: a writ server's feed of a list of up to
// MaxFeedTokens revoked tokens and MaxFeedOthers revoked subjects and keys
// besides, every entry at its longest, fits in MaxFeedSize. A document
// larger than MaxFeedSize is refused as too large.
const (
	MaxFeedTokens = 1_500_000
	MaxFeedOthers = 10_000
	MaxFeedSize   = (MaxFeedTokens*feedTokenEntry+MaxFeedOthers*feedOtherEntry+2)/3*4 + feedRest
)

// The longest entries of a feed's payload, in bytes of JSON with the comma
// that follows them, and room for the rest of a document.
const (
	// ["<22 base64url characters>",<effective_at>,<expires_at>]: times of
	// at most 10 digits, since a revocation list holds a token entry's
	// times in 32 bits (revocation.RevokedToken).
	feedTokenEntry = 2 + 22 + 2 + 10 + 1 + 10 + 1 + 1
	// ["<subject or kid>",<issued_before>,<expires_at>]: a revocation
	// list's subjects and kids are at most 256 bytes, each escaped in at
	// most 6 (\u003c), and the times are int64s of at most 20 characters.
	feedOtherEntry = 1 + 2 + 6*256 + 2*(1+20) + 1 + 1
	// The payload's other members, the JWS header and the signature.
	feedRest = 64 << 10
)

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
	// Client makes the requests; nil means a client with a 30s timeout.
	Client *http.Client
	// Token, when set, returns the bearer token presented to a private
	// feed (writ serve --private-feed): a token of the server with scope
	// writ:revocations. It is called for every request, so that it can
	// read a renewed token from a file.
	Token func(context.Context) (string, error)
}

// Feed reads a writ server's signed revocation feed. It implements
// revocation.Feed, for a revocation.Snapshot. It is safe for concurrent use.
type Feed struct {
	cfg FeedConfig
}

var _ revocation.Feed = (*Feed)(nil)

// NewFeed returns a Feed for cfg. It does no network I/O.
func NewFeed(cfg FeedConfig) (*Feed, error) {
	if cfg.URL == "" || cfg.Issuer == "" || cfg.Keys == nil {
		return nil, errors.New("remote: FeedConfig.URL, Issuer and Keys are required")
	}
	if _, err := url.Parse(cfg.URL); err != nil {
		return nil, fmt.Errorf("remote: feed URL: %w", err)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	return &Feed{cfg: cfg}, nil
}

// feedDoc is the feed's payload; see internal/server's feedHead.
type feedDoc struct {
	Issuer   string            `json:"iss"`
	IssuedAt int64             `json:"iat"`
	Epoch    string            `json:"epoch"`
	Since    int64             `json:"since"`
	Seq      int64             `json:"seq"`
	Tokens   []json.RawMessage `json:"tokens"`
	Subjects []json.RawMessage `json:"subjects"`
	Keys     []json.RawMessage `json:"keys"`
}

// Changes implements revocation.Feed: it fetches the feed after since and
// checks its signature, type, issuer and sequence before using it.
func (f *Feed) Changes(ctx context.Context, since int64) (*revocation.Batch, error) {
	u, _ := url.Parse(f.cfg.URL)
	q := u.Query()
	q.Set("since", strconv.FormatInt(since, 10))
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	if f.cfg.Token != nil {
		tok, err := f.cfg.Token(ctx)
		if err != nil {
			return nil, fmt.Errorf("remote: revocation feed token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := f.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("remote: fetch revocation feed: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusConflict:
		return nil, fmt.Errorf("%w: the feed answers %s to since=%d", revocation.ErrAhead, resp.Status, since)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("remote: fetch revocation feed: %s (a private feed needs a token with scope writ:revocations)", resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("remote: fetch revocation feed: %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxFeedSize+1))
	if err != nil {
		return nil, fmt.Errorf("remote: read revocation feed: %w", err)
	}
	if len(body) > MaxFeedSize {
		return nil, fmt.Errorf("remote: revocation feed larger than %d bytes (%d revoked tokens)", MaxFeedSize, MaxFeedTokens)
	}
	payload, err := f.verify(ctx, string(body))
	if err != nil {
		return nil, err
	}
	var doc feedDoc
	if err := json.Unmarshal(payload, &doc); err != nil {
		return nil, fmt.Errorf("remote: revocation feed: %w", err)
	}
	switch {
	case doc.Issuer != f.cfg.Issuer:
		return nil, fmt.Errorf("remote: revocation feed from %q, want %q", doc.Issuer, f.cfg.Issuer)
	case doc.Since > since || doc.Seq < since: // one may start before since: writ serve shares documents
		return nil, fmt.Errorf("remote: revocation feed answers since=%d seq=%d for since=%d", doc.Since, doc.Seq, since)
	case doc.IssuedAt <= 0:
		return nil, errors.New("remote: revocation feed without iat")
	}
	b, err := doc.batch()
	if err != nil {
		return nil, err
	}
	// The snapshot counts its age from the time the server signed the feed,
	// so that a replayed old feed does not pass for a fresh one.
	b.AsOf, b.Epoch = time.Unix(doc.IssuedAt, 0), doc.Epoch
	return b, nil
}

// verify checks the feed's JWS and returns its payload.
func (f *Feed) verify(ctx context.Context, doc string) ([]byte, error) {
	t, err := jws.Parse(doc)
	if err != nil {
		return nil, fmt.Errorf("remote: revocation feed: %w", err)
	}
	if t.Header.Typ != FeedType {
		return nil, fmt.Errorf("remote: revocation feed has typ %q, want %q", t.Header.Typ, FeedType)
	}
	key, err := f.cfg.Keys.LookupKey(ctx, t.Header.Kid)
	if err != nil {
		return nil, fmt.Errorf("remote: revocation feed: %w", err)
	}
	if key.Algorithm() != t.Header.Alg || !jws.Verify(t.Header.Alg, key.Public(), t.SigningInput, t.Signature) {
		return nil, fmt.Errorf("remote: revocation feed: %w", verifier.ErrSignature)
	}
	payload, err := b64.Decode(t.Payload)
	if err != nil {
		return nil, fmt.Errorf("remote: revocation feed: %w", err)
	}
	return payload, nil
}

func (d *feedDoc) batch() (*revocation.Batch, error) {
	b := &revocation.Batch{Seq: d.Seq, Tokens: make([]revocation.RevokedToken, 0, len(d.Tokens))}
	for _, raw := range d.Tokens {
		var e struct {
			id       string
			eff, exp int64
		}
		if err := json.Unmarshal(raw, &[]any{&e.id, &e.eff, &e.exp}); err != nil {
			return nil, fmt.Errorf("remote: revocation feed token entry: %w", err)
		}
		id, err := b64.Decode(e.id)
		if err != nil || len(id) != 16 {
			return nil, fmt.Errorf("remote: revocation feed token id %q", e.id)
		}
		b.Tokens = append(b.Tokens, revocation.RevokedToken{ID: revocation.TokenID(id), EffectiveAt: e.eff, ExpiresAt: e.exp})
	}
	for _, raw := range d.Subjects {
		var c revocation.SubjectCutoff
		if err := json.Unmarshal(raw, &[]any{&c.Subject, &c.IssuedBefore, &c.ExpiresAt}); err != nil {
			return nil, fmt.Errorf("remote: revocation feed subject entry: %w", err)
		}
		b.Subjects = append(b.Subjects, c)
	}
	for _, raw := range d.Keys {
		var k revocation.RevokedKey
		if err := json.Unmarshal(raw, &[]any{&k.KID, &k.ExpiresAt}); err != nil {
			return nil, fmt.Errorf("remote: revocation feed key entry: %w", err)
		}
		b.Keys = append(b.Keys, k)
	}
	return b, nil
}
