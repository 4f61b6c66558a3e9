package verifier

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/permission"
)

// Claims are the verified claims of a token. Verify returns them only after
// the signature, the key, the times, the issuer and the audience have all
// been checked.
type Claims struct {
	Issuer    string    // iss
	Subject   string    // sub
	Audience  []string  // aud, one or more
	ExpiresAt time.Time // exp
	IssuedAt  time.Time // iat
	NotBefore time.Time // nbf; zero when the token has none
	ID        string    // jti, the token's unique id (what revocation names)
	Scope     string    // scope, space-separated
	ClientID  string    // client_id, the token's name
	// AllowedIPs is allowed_ips: the networks the token may be used from;
	// nil when it is not bound to any.
	AllowedIPs []netip.Prefix

	KeyID     string    // the kid (JWT) or k4.pid (PASETO) of the signing key
	Algorithm Algorithm // EdDSA, ES256, RS256, PS256 or V4Public

	raw string // the verified payload
	aud [2]string
}

// clone returns a copy of c that shares no memory the caller can modify.
func (c *Claims) clone() *Claims {
	d := *c
	if len(c.Audience) <= len(d.aud) {
		d.Audience = d.aud[:copy(d.aud[:], c.Audience)]
	} else {
		d.Audience = slices.Clone(c.Audience)
	}
	d.AllowedIPs = slices.Clone(c.AllowedIPs)
	return &d
}

// RawJSON returns the token's verified claims as the issuer encoded them,
// for claims that Claims has no field for.
func (c *Claims) RawJSON() []byte { return []byte(c.raw) }

// Scopes returns the token's scopes.
func (c *Claims) Scopes() []string { return strings.Fields(c.Scope) }

// HasScope reports whether the token carries scope s, compared exactly.
func (c *Claims) HasScope(s string) bool {
	if s == "" {
		return false
	}
	rest := c.Scope
	for rest != "" {
		var tok string
		tok, rest, _ = strings.Cut(rest, " ")
		if tok == s {
			return true
		}
	}
	return false
}

// RequireScopes returns an error wrapping ErrScope that names the first of
// scopes the token lacks, or nil when it carries them all.
func (c *Claims) RequireScopes(scopes ...string) error {
	for _, s := range scopes {
		if !c.HasScope(s) {
			return fmt.Errorf("%w: missing %q", ErrScope, s)
		}
	}
	return nil
}

// Allows reports whether the token holds a permission, a scope
// RESOURCE:ACTION, that allows action on resource: the same resource or a
// wildcard pattern matching it ("*" one segment, a last "**" any
// remainder), with the same action or one implying it (admin implies
// write, write implies read). A resource with wildcards or that is not a
// valid path, or an action that is not a valid word, is never allowed;
// flat scopes allow nothing here. It allocates nothing.
func (c *Claims) Allows(resource, action string) bool {
	return permission.Allows(c.Scope, resource, action)
}

// RequirePermission returns nil when the token allows action on resource
// (see Allows), else an error wrapping ErrPermission that names the
// permission missing.
func (c *Claims) RequirePermission(resource, action string) error {
	if c.Allows(resource, action) {
		return nil
	}
	return fmt.Errorf("%w: missing %q", ErrPermission, resource+":"+action)
}

// RevocationChecker is the seam through which a verifier consults
// revocation data after a token has otherwise been verified. Implementations
// must be safe for concurrent use and should answer from memory: Verify calls
// them on every token.
type RevocationChecker interface {
	// CheckRevocation returns nil when the token is not revoked, an error
	// wrapping ErrRevoked when it is, and any other error when it cannot tell
	// (for example, data too stale to trust); Verify then fails with it.
	CheckRevocation(ctx context.Context, c *Claims) error
}

type claimsKey struct{}

// WithClaims returns a copy of ctx that carries c.
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFromContext returns the claims that the middleware stored in ctx.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok
}
