package verifier

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"github.com/golang-jwt/jwt/v5"
)

// cacheEnv is a verifier with a token cache, a key source and a revocation
// checker that the test changes between calls, and a clock it moves.
type cacheEnv struct {
	t    *testing.T
	v    *Verifier
	keys atomic.Pointer[KeySet]
	now  atomic.Int64 // unix seconds

	mu      sync.Mutex
	revoked map[string]bool // jti → revoked
}

func (e *cacheEnv) LookupKey(ctx context.Context, kid string) (*Key, error) {
	return e.keys.Load().LookupKey(ctx, kid)
}

func (e *cacheEnv) CheckRevocation(_ context.Context, c *Claims) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.revoked[c.ID] {
		return fmt.Errorf("%w: %q", ErrRevoked, c.ID)
	}
	return nil
}

const cacheT0 = 1_800_000_000

func newCacheEnv(t *testing.T) *cacheEnv {
	e := &cacheEnv{t: t, revoked: map[string]bool{}}
	e.now.Store(cacheT0)
	v, err := New(Config{
		Issuer: "https://writ.example", Audience: "https://api.example",
		Algorithms: []Algorithm{EdDSA}, Keys: e, Revocation: e,
		Now:       func() time.Time { return time.Unix(e.now.Load(), 0) },
		CacheSize: 16,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.v = v
	return e
}

// setKeys makes the key source hold exactly keys, as a refreshed key set would.
func (e *cacheEnv) setKeys(keys ...*Key) {
	ks, err := NewKeySet(keys...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.keys.Store(ks)
}

func newEdKey(t *testing.T, kid string) (*Key, ed25519.PrivateKey) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewKey(kid, EdDSA, pub)
	if err != nil {
		t.Fatal(err)
	}
	return k, priv
}

// signCacheToken signs a token with the claim allowed_ips when allowedIPs
// are given.
func signCacheToken(t *testing.T, priv ed25519.PrivateKey, kid, jti string, allowedIPs ...string) string {
	claims := jwt.MapClaims{
		"iss": "https://writ.example", "sub": "alice", "aud": "https://api.example",
		"exp": cacheT0 + 3600, "iat": cacheT0, "nbf": cacheT0, "jti": jti,
		"scope": "orders:read", "client_id": "ci",
	}
	if len(allowedIPs) > 0 {
		claims["allowed_ips"] = allowedIPs
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = kid
	tok.Header["typ"] = "at+jwt"
	s, err := tok.SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// verifyTwice verifies token twice, so that the second call is a cache hit,
// and fails the test unless both succeed.
func (e *cacheEnv) verifyTwice(token string) {
	e.t.Helper()
	for i := range 2 {
		if _, err := e.v.Verify(context.Background(), token); err != nil {
			e.t.Fatalf("verify #%d: %v", i+1, err)
		}
		if _, ok := e.v.cache.get(token); !ok {
			e.t.Fatalf("verify #%d: token not in the cache", i+1)
		}
	}
}

func TestCacheHonoursRevocation(t *testing.T) {
	e := newCacheEnv(t)
	k, priv := newEdKey(t, "k1")
	e.setKeys(k)
	tok := signCacheToken(t, priv, "k1", "jti-1")
	e.verifyTwice(tok)
	e.mu.Lock()
	e.revoked["jti-1"] = true
	e.mu.Unlock()
	for range 2 {
		if _, err := e.v.Verify(context.Background(), tok); !errors.Is(err, ErrRevoked) {
			t.Fatalf("revoked cached token: %v, want ErrRevoked", err)
		}
	}
}

func TestCacheHonoursCompromisedKey(t *testing.T) {
	e := newCacheEnv(t)
	k1, priv1 := newEdKey(t, "k1")
	k2, _ := newEdKey(t, "k2")
	e.setKeys(k1, k2)
	tok := signCacheToken(t, priv1, "k1", "jti-1")
	e.verifyTwice(tok)
	e.setKeys(k2) // k1 compromised: out of the key set at once
	for range 2 {
		if _, err := e.v.Verify(context.Background(), tok); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("token of a removed key: %v, want ErrUnknownKey", err)
		}
	}
}

func TestCacheHonoursKeySetChange(t *testing.T) {
	e := newCacheEnv(t)
	k1, priv1 := newEdKey(t, "k1")
	e.setKeys(k1)
	tok := signCacheToken(t, priv1, "k1", "jti-1")
	e.verifyTwice(tok)

	// The same key in a refreshed set (a new *Key): still accepted.
	same, err := NewKey("k1", EdDSA, k1.Public())
	if err != nil {
		t.Fatal(err)
	}
	e.setKeys(same)
	e.verifyTwice(tok)

	// Another key under the same kid: the cached verdict no longer holds.
	other, _ := newEdKey(t, "k1")
	e.setKeys(other)
	for range 2 {
		if _, err := e.v.Verify(context.Background(), tok); !errors.Is(err, ErrSignature) {
			t.Fatalf("token under a replaced key: %v, want ErrSignature", err)
		}
	}
}

// TestCacheFreesReplacedKeys: a key that the source replaced (by a new
// *Key for the same public key, as each refresh of a key set makes) is not
// kept alive by the tokens it verified, with the table it may have built:
// the cache holds keys weakly.
func TestCacheFreesReplacedKeys(t *testing.T) {
	e := newCacheEnv(t)
	defer runtime.KeepAlive(e) // and its cache
	k1, priv := newEdKey(t, "k1")
	e.setKeys(k1)
	tok := signCacheToken(t, priv, "k1", "jti-1")
	e.verifyTwice(tok)
	pub := k1.Public()
	k1, err := e.keys.Load().LookupKey(context.Background(), "k1") // the set's own
	if err != nil {
		t.Fatal(err)
	}
	old := weak.Make(k1)
	freed := make(chan struct{})
	runtime.AddCleanup(k1, func(ch chan struct{}) { close(ch) }, freed)
	k1 = nil
	same, err := NewKey("k1", EdDSA, pub)
	if err != nil {
		t.Fatal(err)
	}
	e.setKeys(same)
	e.verifyTwice(tok) // a hit, through the public key
	for range 10 {
		runtime.GC()
		select {
		case <-freed:
			if old.Value() != nil {
				t.Fatal("cleaned up, yet reachable")
			}
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatal("the replaced key is still alive: the token cache keeps it")
}

func TestCacheHonoursExpiry(t *testing.T) {
	e := newCacheEnv(t)
	k, priv := newEdKey(t, "k1")
	e.setKeys(k)
	tok := signCacheToken(t, priv, "k1", "jti-1")
	e.verifyTwice(tok)
	e.now.Store(cacheT0 + 3600 + int64(DefaultLeeway/time.Second)) // exp + leeway
	for range 2 {
		if _, err := e.v.Verify(context.Background(), tok); !errors.Is(err, ErrExpired) {
			t.Fatalf("expired cached token: %v, want ErrExpired", err)
		}
	}
}

// TestCacheHonoursAllowedIPs: a cached token bound to networks is refused
// from outside them and without an address, and stays cached for the
// clients inside them.
func TestCacheHonoursAllowedIPs(t *testing.T) {
	ctx := context.Background()
	e := newCacheEnv(t)
	k, priv := newEdKey(t, "k1")
	e.setKeys(k)
	tok := signCacheToken(t, priv, "k1", "jti-1", "10.0.0.0/8")
	inside, outside := netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("192.0.2.1")
	for i := range 2 {
		if _, err := e.v.VerifyFrom(ctx, tok, inside); err != nil {
			t.Fatalf("verify #%d from inside: %v", i+1, err)
		}
	}
	if _, ok := e.v.cache.get(tok); !ok {
		t.Fatal("token not in the cache")
	}
	for _, client := range []netip.Addr{outside, {}} {
		for range 2 {
			if _, err := e.v.VerifyFrom(ctx, tok, client); !errors.Is(err, ErrClientIP) {
				t.Fatalf("cached token from %v: %v, want ErrClientIP", client, err)
			}
		}
	}
	if _, err := e.v.Verify(ctx, tok); !errors.Is(err, ErrClientIP) {
		t.Fatalf("cached token without an address: %v, want ErrClientIP", err)
	}
	if _, ok := e.v.cache.get(tok); !ok {
		t.Fatal("a refused client took the token out of the cache")
	}
	if _, err := e.v.VerifyFrom(ctx, tok, netip.MustParseAddr("::ffff:10.9.9.9")); err != nil {
		t.Fatalf("cached token from a mapped address inside: %v", err)
	}
}

// TestCacheReturnsCopies: a caller that modifies the claims it got does not
// change what the next caller of the same token gets.
func TestCacheReturnsCopies(t *testing.T) {
	e := newCacheEnv(t)
	k, priv := newEdKey(t, "k1")
	e.setKeys(k)
	tok := signCacheToken(t, priv, "k1", "jti-1")
	for range 3 {
		c, err := e.v.Verify(context.Background(), tok)
		if err != nil {
			t.Fatal(err)
		}
		if c.Subject != "alice" || len(c.Audience) != 1 || c.Audience[0] != "https://api.example" {
			t.Fatalf("claims %+v", c)
		}
		c.Subject = "mallory"
		c.Audience[0] = "elsewhere"
	}
}

// TestCacheBounded: many distinct tokens do not grow the cache beyond its
// size, and each still verifies.
func TestCacheBounded(t *testing.T) {
	e := newCacheEnv(t)
	k, priv := newEdKey(t, "k1")
	e.setKeys(k)
	for i := range 100 {
		e.verifyTwice(signCacheToken(t, priv, "k1", fmt.Sprintf("jti-%d", i)))
	}
	e.v.cache.mu.RLock()
	n := len(e.v.cache.entries)
	e.v.cache.mu.RUnlock()
	if n > 16 {
		t.Errorf("cache holds %d tokens, limit 16", n)
	}
}

func TestCacheSizeNegative(t *testing.T) {
	_, err := New(Config{
		Issuer: "i", Audience: "a", Algorithms: []Algorithm{EdDSA},
		Keys: &KeySet{}, CacheSize: -1,
	})
	if err == nil {
		t.Fatal("New accepted a negative CacheSize")
	}
}
