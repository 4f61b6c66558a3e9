// Package bearer authenticates net/http requests with writ tokens sent as
// OAuth 2.0 bearer tokens (RFC 6750), using a [verifier.Verifier].
//
// Tokens bound to networks (allowed_ips) are checked against the client
// address that [ClientAddr] finds: the connection's, or behind the
// reverse proxies of Config.TrustedProxies the one their forwarding
// headers give.
//
// # Usage reports
//
// With a verifier whose Config.Usage is set (a usage.Reporter of package
// verifier/usage, for one), every request that presents a token whose
// signature verifies is recorded with the client address that ClientAddr
// found: by Verify, as accepted or with the reason of its refusal
// (expired, revoked, ip, …). Nothing else is to configure. A request that
// Verify accepts but that is then refused for a scope (Config.Scopes,
// [RequireScopes]) or a permission ([RequirePermission]) adds a second
// record, scope or permission (see verifier.Verifier.RecordRefusal), so a
// request makes one record, or two when it is refused after Verify (one,
// accepted, when RequirePermission answers 404 for a path that names no
// resource). A request without a token, with a token whose signature
// does not verify, or answered 400 before Verify (several tokens,
// forwarding headers that do not parse), makes none.
//
// It is a package of its own so that programs that only verify (a
// serverless function, a queue consumer) do not link net/http.
package bearer

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"

	"github.com/writ-dev/writ/verifier"
)

// Config configures Middleware. Its zero value reads the Authorization
// header only and requires no scope.
type Config struct {
	// Realm, when set, is sent in every WWW-Authenticate challenge.
	Realm string
	// Scopes lists scopes every request's token must carry (403 otherwise).
	Scopes []string
	// AllowQueryToken also accepts the token in the access_token query
	// parameter (RFC 6750 §2.3). Tokens in URLs end up in logs and browser
	// history; enable it only for clients that cannot send headers.
	AllowQueryToken bool
	// TrustedProxies lists the networks of the reverse proxies in front of
	// the handler: only for a connection from one of them are the client
	// addresses in its Forwarded and X-Forwarded-For headers believed (see
	// ClientAddr). The client address decides whether a token bound to
	// networks (allowed_ips) is accepted; with none trusted, it is the
	// connection's.
	TrustedProxies []netip.Prefix
	// OnRefused, when set, is called with the error of each token that
	// Verify refuses, before the answer is written: for metrics and logs.
	// The error names the reason (see the verifier's sentinels) and never
	// holds the token.
	OnRefused func(r *http.Request, err error)
}

// Middleware returns net/http middleware that verifies each request's bearer
// token with v and passes its claims to the next handler in the request
// context (see verifier.ClaimsFromContext). It answers as RFC 6750 §3 asks: 401 with a Bearer
// challenge when the token is missing or invalid, 400 for a request that
// carries more than one token or forwarding headers that do not parse
// (see ClientAddr), 403 with error="insufficient_scope" when a
// required scope is absent, and 503 when revocation data cannot be trusted.
// Responses never echo the token.
func Middleware(v *verifier.Verifier, cfg Config) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, err := bearerToken(r, cfg.AllowQueryToken)
			if err != nil {
				challenge(w, http.StatusBadRequest, Challenge{Realm: cfg.Realm, Error: "invalid_request", Description: err.Error()})
				return
			}
			if token == "" {
				challenge(w, http.StatusUnauthorized, Challenge{Realm: cfg.Realm})
				return
			}
			client, err := ClientAddr(r, cfg.TrustedProxies)
			if err != nil {
				challenge(w, http.StatusBadRequest, Challenge{Realm: cfg.Realm, Error: "invalid_request", Description: ErrForwarded.Error()})
				return
			}
			c, err := v.VerifyFrom(r.Context(), token, client)
			if err != nil {
				if cfg.OnRefused != nil {
					cfg.OnRefused(r, err)
				}
				status, code := errorStatus(err)
				challenge(w, status, Challenge{Realm: cfg.Realm, Error: code, Description: description(err)})
				return
			}
			if err := c.RequireScopes(cfg.Scopes...); err != nil {
				v.RecordRefusal(c, client, err)
				challenge(w, http.StatusForbidden, Challenge{Realm: cfg.Realm, Error: "insufficient_scope", Description: "the token lacks a required scope", Scope: strings.Join(cfg.Scopes, " ")})
				return
			}
			ctx := verifier.WithClaims(r.Context(), c)
			if v.RecordsUsage() {
				ctx = context.WithValue(ctx, refusalsKey{}, &refusals{v, client})
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// RequireScopes returns middleware that answers 403 insufficient_scope unless
// the claims that Middleware stored carry every one of scopes, and 401 when
// there are no claims at all (a handler mounted outside Middleware).
func RequireScopes(scopes ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c := claims(w, r)
			if c == nil {
				return
			}
			if err := c.RequireScopes(scopes...); err != nil {
				recordRefusal(r, c, err)
				challenge(w, http.StatusForbidden, Challenge{Error: "insufficient_scope", Description: "the token lacks a required scope", Scope: strings.Join(scopes, " ")})
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// refusals is what Middleware leaves in a request's context, when its
// verifier records usage, for the guards within it (RequireScopes,
// RequirePermission) to record their refusals: the verifier and the
// client address.
type refusals struct {
	v      *verifier.Verifier
	client netip.Addr
}

type refusalsKey struct{}

// recordRefusal records that a guard refused r, whose verified claims are
// c, with err (see verifier.Verifier.RecordRefusal), when Middleware left
// a way to.
func recordRefusal(r *http.Request, c *verifier.Claims, err error) {
	if rf, ok := r.Context().Value(refusalsKey{}).(*refusals); ok {
		rf.v.RecordRefusal(c, rf.client, err)
	}
}

// claims returns the claims that Middleware stored in r's context, or
// answers 401 and returns nil when there are none (a handler mounted
// outside Middleware).
func claims(w http.ResponseWriter, r *http.Request) *verifier.Claims {
	c, ok := verifier.ClaimsFromContext(r.Context())
	if !ok {
		challenge(w, http.StatusUnauthorized, Challenge{})
		return nil
	}
	return c
}

// errorStatus maps a Verify error to an HTTP status and RFC 6750 error code.
// Every token failure is 401 invalid_token; a revocation checker that cannot
// answer is the server's problem, 503, and no challenge code.
func errorStatus(err error) (int, string) {
	for _, e := range tokenErrors {
		if errors.Is(err, e) {
			return http.StatusUnauthorized, "invalid_token"
		}
	}
	return http.StatusServiceUnavailable, ""
}

var tokenErrors = [...]error{
	verifier.ErrTooLarge, verifier.ErrMalformed, verifier.ErrType, verifier.ErrAlgorithm,
	verifier.ErrUnknownKey, verifier.ErrSignature, verifier.ErrExpired, verifier.ErrNotYetValid,
	verifier.ErrIssuer, verifier.ErrAudience, verifier.ErrRevoked, verifier.ErrClientIP,
}

// description is the error_description sent to clients: the sentinel's
// text only, never details that could reflect attacker input.
func description(err error) string {
	for _, e := range tokenErrors {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "token cannot be checked now"
}

// Challenge is an RFC 6750 §3 challenge, the value of a WWW-Authenticate
// header. Its empty fields are left out, and each value is written as a
// quoted string of the characters RFC 6750 §3 allows in it (printable ASCII
// but '"' and '\'): others are dropped.
type Challenge struct {
	Realm       string // realm
	Error       string // error: invalid_request, invalid_token or insufficient_scope
	Description string // error_description: never text from the request
	Scope       string // scope: the scopes the resource requires, space-separated
}

// String returns the header value, such as
// Bearer realm="writ", error="invalid_token".
func (c Challenge) String() string {
	var b strings.Builder
	b.WriteString("Bearer")
	sep := " "
	param := func(name, value string) {
		if value == "" {
			return
		}
		b.WriteString(sep + name + `="` + quotable(value) + `"`)
		sep = ", "
	}
	param("realm", c.Realm)
	param("error", c.Error)
	param("error_description", c.Description)
	param("scope", c.Scope)
	return b.String()
}

// quotable drops from s what a quoted value of a challenge may not hold:
// '"', '\' and characters outside printable ASCII (RFC 6750 §3).
func quotable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}

// challenge answers status with the challenge c and the status text.
func challenge(w http.ResponseWriter, status int, c Challenge) {
	w.Header().Set("WWW-Authenticate", c.String())
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, http.StatusText(status), status)
}

// Token returns the token of r's Authorization header with the Bearer
// scheme (RFC 6750 §2.1, the scheme matched case-insensitively), "" when
// the request has no Authorization header or one of another scheme, and
// ErrSeveralHeaders or ErrEmptyToken for a request to answer 400
// invalid_request.
func Token(r *http.Request) (string, error) {
	switch h := r.Header.Values("Authorization"); len(h) {
	case 0:
		return "", nil
	case 1:
		scheme, t, ok := strings.Cut(h[0], " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", nil // another scheme: no bearer token
		}
		token := strings.TrimLeft(t, " ")
		if token == "" {
			return "", ErrEmptyToken
		}
		return token, nil
	default:
		return "", ErrSeveralHeaders
	}
}

// bearerToken returns the request's token, from its Authorization header
// (Token) or, if allowQuery, its access_token query parameter: "" when it
// has none, or an error when it has several or a malformed Authorization
// header.
func bearerToken(r *http.Request, allowQuery bool) (string, error) {
	token, err := Token(r)
	if err != nil {
		return "", err
	}
	if allowQuery && r.URL.Query().Has("access_token") {
		q := r.URL.Query()["access_token"]
		if token != "" || len(q) != 1 {
			return "", ErrSeveralTokens
		}
		token = q[0]
	}
	return token, nil
}
