package verifier

import (
	"context"
	"crypto"
	"net/netip"
	"strings"
	"sync"
	"weak"
)

// tokenCache remembers tokens whose signature and claims have been
// verified, keyed by the exact token string, so that a token presented again
// skips decoding, parsing and the signature check. It holds at most max
// entries; when full, an arbitrary entry makes room. What can change between
// two presentations of a token is checked again on every hit, by
// Verifier.cached: the key, the clock and revocation.
type tokenCache struct {
	max int

	mu      sync.RWMutex
	entries map[string]cacheEntry
}

// cacheEntry is a verified token's claims, never modified, and its key:
// held weakly, with its algorithm and public key, so that the prepared
// form of a key that its source has replaced (a table of 30 or 78 KiB) is
// not kept alive by the tokens it verified.
type cacheEntry struct {
	claims *Claims
	key    weak.Pointer[Key]
	alg    Algorithm
	pub    crypto.PublicKey
}

func newTokenCache(size int) *tokenCache {
	return &tokenCache{max: size, entries: make(map[string]cacheEntry, min(size, 1024))}
}

func (tc *tokenCache) get(token string) (cacheEntry, bool) {
	tc.mu.RLock()
	e, ok := tc.entries[token]
	tc.mu.RUnlock()
	return e, ok
}

// add stores c, which must never be modified again, and key for token.
func (tc *tokenCache) add(token string, c *Claims, key *Key) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if _, ok := tc.entries[token]; ok {
		return
	}
	if len(tc.entries) >= tc.max {
		for t := range tc.entries {
			delete(tc.entries, t)
			break
		}
	}
	// A copy of the token: the caller's string may share a larger buffer
	// (a request header) that the cache must not keep alive.
	tc.entries[strings.Clone(token)] = cacheEntry{c, weak.Make(key), key.alg, key.pub}
}

func (tc *tokenCache) remove(token string) {
	tc.mu.Lock()
	delete(tc.entries, token)
	tc.mu.Unlock()
}

// cached answers Verify for a token in the cache: ok is false when the
// token is not there or its key is no longer what the key source returns
// for its kid (the key set changed, or a compromised key was removed), and
// Verify must then verify the token in full. Otherwise it checks the
// times, the client address and revocation as Verify does, and returns a
// copy of the claims for the caller to own.
func (v *Verifier) cached(ctx context.Context, token string, client netip.Addr) (c *Claims, ok bool, err error) {
	e, ok := v.cache.get(token)
	if !ok {
		return nil, false, nil
	}
	if key, err := v.keys.LookupKey(ctx, e.claims.KeyID); err != nil || !e.sameKey(key) {
		v.cache.remove(token)
		return nil, false, nil
	}
	now := v.now()
	err = v.checkClaims(e.claims, now)
	if err == nil {
		// The token stays good for its networks: it is kept.
		if err := v.checkClient(e.claims, client); err != nil {
			v.record(e.claims, now, client, err)
			return nil, true, err
		}
	}
	if err == nil && v.revocation != nil {
		err = v.revocation.CheckRevocation(ctx, e.claims)
	}
	v.record(e.claims, now, client, err)
	if err != nil {
		// Expired, revoked, or not to be trusted now: the next
		// presentation is verified in full.
		v.cache.remove(token)
		return nil, true, err
	}
	return e.claims.clone(), true, nil
}

// sameKey reports whether k is the entry's key: the same algorithm and
// public key.
func (e *cacheEntry) sameKey(k *Key) bool {
	if k != nil && e.key.Value() == k {
		return true
	}
	if k == nil || k.alg != e.alg {
		return false
	}
	pub, ok := k.pub.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(e.pub)
}
