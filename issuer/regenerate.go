package issuer

import (
	"context"
	"fmt"

	"github.com/writ-dev/writ/internal/audit"
	"github.com/writ-dev/writ/revocation"
)

// Revoker revokes tokens by jti. *revocation.List is one.
type Revoker interface {
	RevokeToken(ctx context.Context, jti string, o revocation.Options) (revocation.Entry, error)
}

var _ Revoker = (*revocation.List)(nil)

// Regenerate issues a replacement for the token jti, with the same subject,
// scopes, audience, name, format and lifetime, then revokes the old token,
// after o.Grace if set, which must end by the old token's expiry
// (revocation.CheckGrace). It returns the new token. Options that the
// revocation would refuse (revocation.Options.Check, CheckGrace) are refused
// before anything is issued.
//
// The new token is recorded before the old one is revoked: if the process
// dies in between, the old token is still valid and regenerating again is
// safe.
func (i *Issuer) Regenerate(ctx context.Context, jti string, r Revoker, o revocation.Options) (*Token, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	old, err := i.Get(ctx, jti)
	if err != nil {
		return nil, err
	}
	// Before the replacement is issued: a grace that the revocation would
	// refuse must not leave two live tokens behind.
	now := i.cfg.Now()
	if err := revocation.CheckGrace(o.Grace, now, old.ExpiresAt); err != nil {
		return nil, err
	}
	if o.Grace > 0 { // ends as checked, however long issuing takes
		o.Grace, o.EffectiveAt = 0, now.Add(o.Grace)
	}
	t, err := i.Issue(ctx, Request{
		Subject:  old.Subject,
		Audience: old.Audience,
		Scopes:   old.Scopes,
		TTL:      old.ExpiresAt.Sub(old.IssuedAt),
		Format:   old.Format,
		Name:     old.Name,
		IssuedBy: o.Actor,
		action:   audit.Regenerate,
		detail:   "replaces " + jti,
	})
	if err != nil {
		return nil, err
	}
	if o.Reason == "" {
		o.Reason = "regenerated as " + t.ID
	}
	if _, err := r.RevokeToken(ctx, jti, o); err != nil {
		return nil, fmt.Errorf("issued %s but could not revoke %s: %w", t.ID, jti, err)
	}
	return t, nil
}
