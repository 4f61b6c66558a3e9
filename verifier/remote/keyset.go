// Package remote keeps a verifier's keys and revocation data fresh from a
// writ server (or any JWKS endpoint) over HTTP.
//
// A [KeySet] follows a JWKS or PASERK set URL: it can start from embedded
// bytes so that a cold start needs no network, refreshes in the background
// as the server's Cache-Control allows (within bounds), revalidates with
// conditional GETs, runs one fetch at a time, refetches on an unknown kid at
// most once per cooldown (with a negative cache, so bad tokens cannot cause
// a fetch storm), keeps the last good set when a fetch fails (a set that
// the parser refuses, one with no usable key included), and replaces rather
// than merges sets. The keys a set holds that the verifier cannot use are
// ignored by the parser and listed by Current().Ignored(). A [Feed] reads
// the server's signed revocation feed for a revoked.Snapshot (with
// FeedConfig.Wait it long-polls, so that the snapshot learns of a
// revocation as soon as the server has it instead of at its next refresh,
// the server holding each read until the list changes or the wait ends);
// an [EdgeFeed] reads the compact snapshot files and deltas that writ
// serve serves and writ publish writes for any static host or CDN (with
// EdgeFeedConfig.Wait it long-polls writ serve's manifest alike, and a
// static host, which ignores the wait, is polled at the snapshot's
// refresh interval).
//
// [FollowIssuer] follows an issuer from its URL alone (the key sets, with
// embedded bytes to start from, and the EdgeFeed, waiting for changes with
// IssuerConfig.Wait), as a serverless function does; [Discover] reads its
// discovery document.
//
// It is a package of its own so that verifiers with embedded keys link no
// net/http.
//
// [LoadKeySet] and [LoadKeySets] read key sets once, from a URL or a file,
// for a one-off check: writ verify --jwks and --paserk.
package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/writ-dev/writ/verifier"
)

// Defaults for KeySetConfig.
const (
	DefaultMinRefresh = time.Minute
	DefaultMaxRefresh = time.Hour
	DefaultCooldown   = 30 * time.Second
	maxNegative       = 4096
)

// Parser reads a key set: verifier.ParseJWKS or verifier.ParsePASERKSet.
type Parser func([]byte) (*verifier.KeySet, error)

// KeySetConfig configures a KeySet.
type KeySetConfig struct {
	// URL of the key set. Required.
	URL string
	// Parse reads it; nil means verifier.ParseJWKS.
	Parse Parser
	// Initial, when set, is the key set to start from (for example a
	// go:embed copy): NewKeySet then does no network I/O, and the first
	// fetch happens in the background.
	Initial []byte
	// Client makes the requests; nil means a client with a 10s timeout.
	Client *http.Client
	// MinRefresh and MaxRefresh bound the refresh interval that the
	// server's Cache-Control max-age asks for; zero means the defaults.
	MinRefresh, MaxRefresh time.Duration
	// Cooldown is the least time between two fetches caused by unknown
	// kids; zero means DefaultCooldown.
	Cooldown time.Duration
	// OnError, when set, receives background fetch errors.
	OnError func(error)
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// KeySet is a verifier.KeySource that follows a key set URL. It is safe for
// concurrent use. Close stops its background refresh.
type KeySet struct {
	cfg KeySetConfig

	mu          sync.Mutex
	set         *verifier.KeySet
	etag        string
	next        time.Time // when to refresh
	lastUnknown time.Time // last fetch caused by an unknown kid
	negative    map[string]time.Time
	inflight    chan struct{} // closed when the fetch in flight ends
	lastErr     error

	stop, done chan struct{}
}

var _ verifier.KeySource = (*KeySet)(nil)

// NewKeySet returns a KeySet for cfg: from cfg.Initial without network I/O,
// or else from a first fetch, which must succeed.
func NewKeySet(ctx context.Context, cfg KeySetConfig) (*KeySet, error) {
	if cfg.URL == "" {
		return nil, errors.New("remote: KeySetConfig.URL is required")
	}
	if cfg.Parse == nil {
		cfg.Parse = verifier.ParseJWKS
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.MinRefresh == 0 {
		cfg.MinRefresh = DefaultMinRefresh
	}
	if cfg.MaxRefresh == 0 {
		cfg.MaxRefresh = DefaultMaxRefresh
	}
	if cfg.MaxRefresh < cfg.MinRefresh {
		return nil, errors.New("remote: MaxRefresh is below MinRefresh")
	}
	if cfg.Cooldown == 0 {
		cfg.Cooldown = DefaultCooldown
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	k := &KeySet{cfg: cfg, negative: map[string]time.Time{}, stop: make(chan struct{}), done: make(chan struct{})}
	if cfg.Initial != nil {
		set, err := cfg.Parse(cfg.Initial)
		if err != nil {
			return nil, fmt.Errorf("remote: initial key set: %w", err)
		}
		k.set = set
	} else if err := k.fetch(ctx); err != nil {
		return nil, err
	}
	go k.loop()
	return k, nil
}

// LookupKey implements verifier.KeySource. An unknown kid triggers a fetch,
// unless one did less than Cooldown ago or the kid was just looked for in
// vain; the caller waits for that fetch within ctx.
func (k *KeySet) LookupKey(ctx context.Context, kid string) (*verifier.Key, error) {
	k.mu.Lock()
	set := k.set
	k.mu.Unlock()
	if key, err := set.LookupKey(ctx, kid); err == nil {
		return key, nil
	}
	now := k.cfg.Now()
	k.mu.Lock()
	if t, ok := k.negative[kid]; ok && now.Sub(t) < k.cfg.Cooldown || now.Sub(k.lastUnknown) < k.cfg.Cooldown {
		k.remember(kid, now)
		k.mu.Unlock()
		return nil, fmt.Errorf("%w: kid %q", verifier.ErrUnknownKey, kid)
	}
	k.lastUnknown = now
	k.mu.Unlock()

	if err := k.fetch(ctx); err != nil && k.cfg.OnError != nil {
		k.cfg.OnError(err)
	}
	k.mu.Lock()
	set = k.set
	k.mu.Unlock()
	key, err := set.LookupKey(ctx, kid)
	if err != nil {
		k.mu.Lock()
		k.remember(kid, now)
		k.mu.Unlock()
	}
	return key, err
}

// remember puts kid in the negative cache, which is bounded: when full it
// starts over.
func (k *KeySet) remember(kid string, now time.Time) {
	if len(k.negative) >= maxNegative {
		clear(k.negative)
	}
	k.negative[strings.Clone(kid)] = now // kid may point into a token's buffer
}

// Current returns the key set in use. Its Ignored method lists the keys of
// the fetched set that the verifier cannot use.
func (k *KeySet) Current() *verifier.KeySet {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.set
}

// Err returns the error of the last fetch, or nil if it succeeded.
func (k *KeySet) Err() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lastErr
}

// Close stops the background refresh and waits for it to end.
func (k *KeySet) Close() {
	k.mu.Lock()
	select {
	case <-k.stop:
	default:
		close(k.stop)
	}
	k.mu.Unlock()
	<-k.done
}

func (k *KeySet) loop() {
	defer close(k.done)
	for {
		k.mu.Lock()
		wait := k.next.Sub(k.cfg.Now())
		k.mu.Unlock()
		t := time.NewTimer(max(wait, 0))
		select {
		case <-k.stop:
			t.Stop()
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		go func() {
			select {
			case <-k.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		if err := k.fetch(ctx); err != nil && k.cfg.OnError != nil {
			k.cfg.OnError(err)
		}
		cancel()
	}
}

// fetch gets the key set, or joins the fetch in flight.
func (k *KeySet) fetch(ctx context.Context) error {
	k.mu.Lock()
	if ch := k.inflight; ch != nil {
		k.mu.Unlock()
		select {
		case <-ch:
			return k.Err()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ch := make(chan struct{})
	k.inflight = ch
	etag := k.etag
	k.mu.Unlock()

	set, newTag, maxAge, err := k.get(ctx, etag)

	k.mu.Lock()
	defer k.mu.Unlock()
	k.inflight = nil
	close(ch)
	k.lastErr = err
	now := k.cfg.Now()
	if err != nil {
		// Keep the last good set; try again after the shortest interval.
		k.next = now.Add(k.cfg.MinRefresh)
		return err
	}
	if set != nil {
		k.set = set // replace, never merge: removed keys must go
		clear(k.negative)
	}
	k.etag = newTag
	k.next = now.Add(min(max(maxAge, k.cfg.MinRefresh), k.cfg.MaxRefresh))
	return nil
}

// get fetches the set; a nil set with no error means 304 Not Modified.
func (k *KeySet) get(ctx context.Context, etag string) (*verifier.KeySet, string, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.cfg.URL, nil)
	if err != nil {
		return nil, "", 0, fmt.Errorf("remote: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := k.cfg.Client.Do(req)
	if err != nil {
		return nil, "", 0, fmt.Errorf("remote: fetch key set: %w", err)
	}
	defer resp.Body.Close()
	maxAge := cacheMaxAge(resp.Header.Get("Cache-Control"))
	switch {
	case resp.StatusCode == http.StatusNotModified && etag != "":
		return nil, etag, maxAge, nil
	case resp.StatusCode == http.StatusNotModified:
		// Not an answer to a conditional request: there is no set to keep.
		return nil, "", 0, fmt.Errorf("remote: fetch key set %s: %s to an unconditional request", k.cfg.URL, resp.Status)
	case resp.StatusCode == http.StatusOK:
	default:
		return nil, "", 0, fmt.Errorf("remote: fetch key set %s: %s", k.cfg.URL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, verifier.MaxKeySetSize+1))
	if err != nil {
		return nil, "", 0, fmt.Errorf("remote: read key set: %w", err)
	}
	set, err := k.cfg.Parse(body)
	if err != nil {
		return nil, "", 0, fmt.Errorf("remote: key set from %s: %w", k.cfg.URL, err)
	}
	return set, resp.Header.Get("ETag"), maxAge, nil
}

// cacheMaxAge reads max-age from a Cache-Control header; zero when absent,
// or when no-cache or no-store forbid reuse.
func cacheMaxAge(h string) time.Duration {
	var age time.Duration
	for _, d := range strings.Split(h, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "no-cache", "no-store":
			return 0
		case "max-age":
			if n, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64); err == nil && n > 0 && n < 1<<31 {
				age = time.Duration(n) * time.Second
			}
		}
	}
	return age
}
