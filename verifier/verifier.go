// Package verifier checks writ's access tokens offline: JWTs in the RFC 9068
// profile (EdDSA, ES256, RS256, PS256) and PASETO v4.public tokens, against
// keys that are already in memory. It makes no network calls of its own and
// links neither SQLite nor the issuer, so it suits serverless functions.
//
// # Building a verifier
//
// The issuer, the audience and the accepted algorithms are required: a
// [Verifier] built without them refuses to exist rather than accept too much.
// Keys come from a [KeySource]: a [KeySet] parsed with [ParseJWKS] or
// [ParsePASERKSet] (from bytes, for example a go:embed file, or with
// [ReadJWKSFile]), or any source of the caller's. A key in a set that the
// verifier cannot use is ignored, as RFC 7517 §5 asks, and listed with its
// reason by [KeySet.Ignored]; a set with private key material or no usable
// key is refused.
//
// # Errors
//
// [Verifier.Verify] returns claims or an error wrapping one sentinel of
// errors.go ([ErrExpired], [ErrSignature], [ErrUnknownKey], …), to be
// matched with errors.Is.
//
// # Client addresses
//
// A token may be bound to networks (its allowed_ips claim). Such a token
// verifies only with [Verifier.VerifyFrom] and a client address inside
// one of them: [Verifier.Verify], which knows no address, refuses it with
// [ErrClientIP]. Tokens without the claim verify alike through both.
//
// # Revocation
//
// A [RevocationChecker] set as Config.Revocation is consulted for every
// token that passes all other checks. Package revoked (verifier/revoked)
// holds a revocation list in memory, from writ's database or from a writ
// server's signed feed (verifier/remote), and is one.
//
// # Usage
//
// A [UsageRecorder] set as Config.Usage is told of each use of a token
// whose signature verified (its jti, the time, the client address and the
// outcome: accepted or the refusal), never blocking Verify. Package usage
// (verifier/usage) batches the uses and reports them to writ serve.
//
// # HTTP
//
// Package bearer (verifier/bearer) is the net/http middleware: it
// authenticates requests with bearer tokens (RFC 6750) and guards handlers
// by scope. It is kept apart so that programs that only verify link no
// net/http.
package verifier

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unsafe"

	"github.com/writ-dev/writ/internal/accesstoken"
	"github.com/writ-dev/writ/internal/eddsa"
	"github.com/writ-dev/writ/internal/jsonx"
	"github.com/writ-dev/writ/internal/jws"
	"github.com/writ-dev/writ/internal/paseto"
)

// MaxTokenSize is the longest token Verify decodes, in bytes.
const MaxTokenSize = 8 << 10

// DefaultLeeway is the clock skew tolerated when Config.Leeway is zero.
const DefaultLeeway = 30 * time.Second

// MaxLeeway is the largest Config.Leeway. A revocation must outlive its
// token by this much: until then some verifier may still accept the token.
const MaxLeeway = 5 * time.Minute

// Config fixes what a Verifier accepts.
type Config struct {
	// Issuer is the exact iss every token must carry. Required.
	Issuer string
	// Audience must be among every token's aud values. Required.
	Audience string
	// Algorithms lists the accepted algorithms: EdDSA, ES256, RS256, PS256
	// and V4Public. Required; a token in any other is rejected before its
	// key is looked up.
	Algorithms []Algorithm
	// Keys resolves key ids to keys. Required.
	Keys KeySource
	// Leeway is the clock skew tolerated on exp, nbf and iat. Zero means
	// DefaultLeeway; it must not be negative or above five minutes.
	Leeway time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Revocation, when set, is consulted for every token that passes all
	// other checks.
	Revocation RevocationChecker
	// UnsafeAnyAudience accepts tokens for any audience, and Audience must
	// then be empty. It is for an issuer's own introspection and revocation
	// endpoints, which are asked about tokens meant for other APIs; an API
	// that accepts tokens must never set it.
	UnsafeAnyAudience bool
	// UnsafeAnyClient accepts tokens bound to networks (allowed_ips)
	// whatever the client address, leaving Claims.AllowedIPs to the caller.
	// It is for an issuer's own introspection and revocation endpoints,
	// whose caller is not the token's client; an API that accepts tokens
	// must never set it.
	UnsafeAnyClient bool
	// CacheSize, when above zero, keeps up to that many verified tokens in
	// memory, keyed by the token itself, so that a token presented again is
	// answered without decoding it or checking its signature. On every hit
	// the verifier still checks that Keys returns the token's key (a key
	// removed from the set, as a compromised key is, or replaced, means a
	// full verification), the token's times against Now, and Revocation.
	// The cache holds a copy of each token: up to CacheSize × 8 KiB.
	CacheSize int
	// Usage, when set, is told of every use of a token whose signature
	// verified: its jti, the time, the client address and the outcome
	// (see UsageRecorder for exactly what is recorded). Package
	// verifier/usage reports the uses to writ serve.
	Usage UsageRecorder
}

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	issuer     string
	audience   string
	anyAud     bool
	anyClient  bool
	algs       [5]bool // indexed by algIndex
	keys       KeySource
	leeway     time.Duration
	now        func() time.Time
	revocation RevocationChecker
	cache      *tokenCache // nil unless Config.CacheSize is set
	usage      UsageRecorder
}

var algNames = [...]Algorithm{EdDSA, ES256, RS256, PS256, V4Public}

func algIndex(alg Algorithm) int {
	for i, a := range algNames {
		if a == alg {
			return i
		}
	}
	return -1
}

// New returns a Verifier for cfg, or an error naming the first setting that
// is missing or invalid.
func New(cfg Config) (*Verifier, error) {
	v := &Verifier{
		issuer:     cfg.Issuer,
		audience:   cfg.Audience,
		anyAud:     cfg.UnsafeAnyAudience,
		anyClient:  cfg.UnsafeAnyClient,
		keys:       cfg.Keys,
		leeway:     cfg.Leeway,
		now:        cfg.Now,
		revocation: cfg.Revocation,
		usage:      cfg.Usage,
	}
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("verifier: Config.Issuer is required")
	case cfg.Audience == "" && !cfg.UnsafeAnyAudience:
		return nil, errors.New("verifier: Config.Audience is required")
	case cfg.Audience != "" && cfg.UnsafeAnyAudience:
		return nil, errors.New("verifier: Config.Audience must be empty with UnsafeAnyAudience")
	case len(cfg.Algorithms) == 0:
		return nil, errors.New("verifier: Config.Algorithms is required")
	case cfg.Keys == nil:
		return nil, errors.New("verifier: Config.Keys is required")
	case cfg.Leeway < 0 || cfg.Leeway > MaxLeeway:
		return nil, fmt.Errorf("verifier: Config.Leeway %v is outside 0 to %v", cfg.Leeway, MaxLeeway)
	case cfg.CacheSize < 0:
		return nil, fmt.Errorf("verifier: Config.CacheSize %d is negative", cfg.CacheSize)
	}
	if cfg.CacheSize > 0 {
		v.cache = newTokenCache(cfg.CacheSize)
	}
	for _, a := range cfg.Algorithms {
		i := algIndex(a)
		if i < 0 {
			return nil, fmt.Errorf("verifier: unsupported algorithm %q", a)
		}
		v.algs[i] = true
	}
	if v.leeway == 0 {
		v.leeway = DefaultLeeway
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// Verify checks token and returns its claims. It accepts a compact JWS with
// typ at+jwt or a v4.public PASETO; on any failure it returns nil and an
// error wrapping one of the package's sentinel errors.
//
// Verify knows no client address: a token bound to networks (allowed_ips)
// fails with ErrClientIP. Where the client's address is known, use
// VerifyFrom.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	return v.VerifyFrom(ctx, token, netip.Addr{})
}

// VerifyFrom is Verify for a token presented by a client at address
// client: a token bound to networks (allowed_ips) is accepted only when
// client lies in one of them, and refused with ErrClientIP when it does
// not or when client is the zero Addr (unknown). An IPv4-mapped IPv6
// address (::ffff:192.0.2.1) counts as the IPv4 address, and a zone is
// ignored. Tokens without allowed_ips are verified as by Verify.
func (v *Verifier) VerifyFrom(ctx context.Context, token string, client netip.Addr) (*Claims, error) {
	if len(token) > MaxTokenSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(token), MaxTokenSize)
	}
	if v.cache != nil {
		if c, ok, err := v.cached(ctx, token, client); ok {
			return c, err
		}
	}
	var c *Claims
	var key *Key
	var err error
	if isPASETO(token) {
		c, key, err = v.verifyPASETO(ctx, token)
	} else {
		c, key, err = v.verifyJWT(ctx, token)
	}
	if err != nil {
		return nil, err
	}
	now := v.now()
	err = v.checkClaims(c, now)
	if err == nil {
		err = v.checkClient(c, client)
	}
	if err == nil && v.revocation != nil {
		err = v.revocation.CheckRevocation(ctx, c)
	}
	v.record(c, now, client, err)
	if err != nil {
		return nil, err
	}
	if v.cache != nil {
		v.cache.add(token, c, key)
		c = c.clone() // the cache's copy must never change
	}
	return c, nil
}

// isPASETO reports whether token starts like a PASETO ("v" digit "."): a
// JWS header, being base64url of "{", always starts with "e".
func isPASETO(token string) bool {
	return len(token) > 2 && token[0] == 'v' && '0' <= token[1] && token[1] <= '9'
}

func (v *Verifier) verifyJWT(ctx context.Context, token string) (*Claims, *Key, error) {
	payload, key, err := v.verifyJWS(ctx, token, true)
	if err != nil {
		return nil, nil, err
	}
	c := &Claims{KeyID: key.id, Algorithm: key.alg, raw: bytesToString(payload)}
	if err := c.parse(payload, false); err != nil {
		return nil, nil, err
	}
	return c, key, nil
}

// verifyJWS runs the JWS layer of verification on a compact token: the
// strict split and header (jws.Parse refuses crit, b64, jku, jwk, x5u,
// x5c…), the accepted algorithms, typ at+jwt when checkType is set, the kid
// and its key, the binding of the header's alg to the key's, and the
// signature. It returns the decoded payload, which only then is read.
// (checkType is unset only by the JOSE conformance tests, whose tokens are
// not access tokens.)
func (v *Verifier) verifyJWS(ctx context.Context, token string, checkType bool) ([]byte, *Key, error) {
	t, err := jws.Parse(token)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	h := t.Header
	if i := algIndex(Algorithm(h.Alg)); i < 0 || i == algIndex(V4Public) || !v.algs[i] {
		return nil, nil, fmt.Errorf("%w: %q", ErrAlgorithm, h.Alg)
	}
	if checkType && !isAccessTokenType(h.Typ) {
		return nil, nil, fmt.Errorf("%w: typ %q, want at+jwt", ErrType, h.Typ)
	}
	return verifySigned(ctx, v.keys, &t)
}

// isAccessTokenType reports whether typ is that of a JWT access token
// (RFC 9068 §2.1), at+jwt, with or without "application/", in any case.
func isAccessTokenType(typ string) bool {
	return strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt")
}

// verifySigned ends the JWS layer once the header's alg and typ have been
// checked: the kid and its key from keys, the binding of the header's alg
// to the key's, and the signature. It returns the decoded payload, which
// only then is read.
func verifySigned(ctx context.Context, keys KeySource, t *jws.Token) ([]byte, *Key, error) {
	h := &t.Header
	key, err := lookupKey(ctx, keys, h.Kid)
	if err != nil {
		return nil, nil, err
	}
	if key.alg != Algorithm(h.Alg) {
		return nil, nil, fmt.Errorf("%w: token says %q, key %q is %s", ErrAlgorithm, h.Alg, key.id, key.alg)
	}
	if !jws.Verify(key.alg, key.verify, t.SigningInput, t.Signature) {
		return nil, nil, ErrSignature
	}
	payload, err := t.DecodePayload()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: payload: %w", ErrMalformed, err)
	}
	return payload, key, nil
}

func (v *Verifier) verifyPASETO(ctx context.Context, token string) (*Claims, *Key, error) {
	if !strings.HasPrefix(token, paseto.Header) {
		return nil, nil, fmt.Errorf("%w: only v4.public PASETO tokens are accepted", ErrMalformed)
	}
	if !v.algs[algIndex(V4Public)] {
		return nil, nil, fmt.Errorf("%w: %q", ErrAlgorithm, V4Public)
	}
	t, err := paseto.Parse(token)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	kid, err := footerKID(t.Footer)
	if err != nil {
		return nil, nil, err
	}
	key, err := lookupKey(ctx, v.keys, kid)
	if err != nil {
		return nil, nil, err
	}
	if key.alg != V4Public {
		return nil, nil, fmt.Errorf("%w: key %q is %s, not a PASETO key", ErrAlgorithm, key.id, key.alg)
	}
	if ed, ok := key.verify.(*eddsa.PublicKey); !ok || !paseto.Verify(ed, t, nil) {
		return nil, nil, ErrSignature
	}
	c := &Claims{KeyID: key.id, Algorithm: V4Public, raw: bytesToString(t.Message)}
	if err := c.parse(t.Message, true); err != nil {
		return nil, nil, err
	}
	return c, key, nil
}

// lookupKey returns the key of keys whose id is kid, which must be set and
// no longer than MaxKeyID.
func lookupKey(ctx context.Context, keys KeySource, kid string) (*Key, error) {
	if kid == "" {
		return nil, fmt.Errorf("%w: no kid", ErrMalformed)
	}
	if len(kid) > MaxKeyID {
		return nil, fmt.Errorf("%w: kid longer than %d bytes", ErrMalformed, MaxKeyID)
	}
	return keys.LookupKey(ctx, kid)
}

// footerKID reads the kid of a PASETO footer, {"kid":"k4.pid.…"}.
func footerKID(footer []byte) (string, error) {
	if len(footer) == 0 {
		return "", fmt.Errorf("%w: no footer with the key id", ErrMalformed)
	}
	var kid string
	err := jsonx.Members(footer, func(name []byte, v jsonx.Value) error {
		if string(name) != "kid" {
			return nil
		}
		b, err := v.Bytes()
		kid = bytesToString(b)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("%w: footer: %w", ErrMalformed, err)
	}
	return kid, nil
}

// checkClaims checks c's issuer, audience and times at now.
func (v *Verifier) checkClaims(c *Claims, now time.Time) error {
	switch {
	case c.Issuer != v.issuer:
		return fmt.Errorf("%w: %q", ErrIssuer, c.Issuer)
	case !v.anyAud && !c.hasAudience(v.audience):
		return fmt.Errorf("%w: token is for %q", ErrAudience, c.Audience)
	case !now.Before(c.ExpiresAt.Add(v.leeway)):
		return fmt.Errorf("%w: at %s", ErrExpired, c.ExpiresAt.UTC().Format(time.RFC3339))
	case c.IssuedAt.After(now.Add(v.leeway)):
		return fmt.Errorf("%w: issued in the future, at %s", ErrNotYetValid, c.IssuedAt.UTC().Format(time.RFC3339))
	case !c.NotBefore.IsZero() && c.NotBefore.After(now.Add(v.leeway)):
		return fmt.Errorf("%w: not before %s", ErrNotYetValid, c.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

func (c *Claims) hasAudience(aud string) bool {
	for _, a := range c.Audience {
		if a == aud {
			return true
		}
	}
	return false
}

// parse reads the claims of payload, a JWT's or (pasetoClaims) a PASETO
// token's, with accesstoken's strict parser, into c, which must have
// c.raw set to payload: c's strings share its memory. c.aud lends room for
// up to two audiences.
func (c *Claims) parse(payload []byte, pasetoClaims bool) error {
	ac := accesstoken.Claims{Audience: c.aud[:0]}
	var err error
	if pasetoClaims {
		err = accesstoken.ParsePASETOClaims(payload, &ac)
	} else {
		err = accesstoken.ParseJWTClaims(payload, &ac)
	}
	if err != nil {
		return fmt.Errorf("%w: claims: %w", ErrMalformed, err)
	}
	c.Issuer, c.Subject, c.Audience, c.ID, c.Scope, c.ClientID = ac.Issuer, ac.Subject, ac.Audience, ac.ID, ac.Scope, ac.ClientID
	c.ExpiresAt, c.IssuedAt, c.NotBefore = ac.ExpiresAt, ac.IssuedAt, ac.NotBefore
	if len(ac.AllowedIPs) > 0 {
		c.AllowedIPs = make([]netip.Prefix, len(ac.AllowedIPs))
		for i, s := range ac.AllowedIPs {
			p, err := parseCanonicalPrefix(s)
			if err != nil {
				return fmt.Errorf("%w: claims: claim \"allowed_ips\": %w", ErrMalformed, err)
			}
			c.AllowedIPs[i] = p
		}
	}
	return nil
}

// parseCanonicalPrefix parses s, a CIDR prefix in its canonical form: no
// host bits set, an IPv4 address not written as IPv6, no zone, as
// netip.Prefix.String writes it. A prefix written any other way is
// refused rather than read two ways.
func parseCanonicalPrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	var buf [64]byte
	if err != nil || p != p.Masked() || string(p.AppendTo(buf[:0])) != s {
		return netip.Prefix{}, errors.New("want CIDR prefixes in canonical form")
	}
	return p, nil
}

// bytesToString returns a string sharing b's memory. Callers pass only
// buffers that are never written again: decoded token parts that this
// package owns.
func bytesToString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
