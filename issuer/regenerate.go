package issuer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/revocation"
)

// Regenerate issues a replacement for the token jti, which must not be
// revoked (a revocation scheduled for later does not count), with the
// same subject, scopes, audience, name, description, networks, parent,
// format and lifetime (shortened to the lifetime policy's maximum if it was
// lowered since), and revokes the old token, after o.Grace if set, which
// must end by the old token's expiry (revocation.CheckGrace). It returns
// the new token. Options that the revocation would refuse
// (revocation.Options.Check, CheckGrace) are refused before anything is
// issued; an empty o.Reason says which token replaces it.
//
// The new token is recorded and the old one revoked in one transaction: a
// failure of either leaves neither, and the old token as it was. The
// revocation follows the rules of revocation.List.RevokeToken.
func (i *Issuer) Regenerate(ctx context.Context, jti string, o revocation.Options) (*Token, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	old, err := i.Get(ctx, jti)
	if err != nil {
		return nil, err
	}
	if old.Status == StatusRevoked {
		// Its grants were taken away: a replacement would hand them back.
		return nil, fmt.Errorf("%w: token %q is revoked: a revoked token is not regenerated (issue a new one)", ErrRequest, jti)
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
	// The old lifetime, within the policy in force now.
	maxTTL, err := i.maxTTL(ctx, true)
	if err != nil {
		return nil, err
	}
	ttl, expires := min(old.ExpiresAt.Sub(old.IssuedAt), maxTTL), time.Time{}
	if old.Parent != "" {
		// A child ends by its parent's expiry, its replacement too.
		if ttl, expires, err = i.withinParent(ctx, old.Parent, ttl, now); err != nil {
			return nil, err
		}
	}
	req, err := i.normalize(ctx, Request{
		Subject:  old.Subject,
		Audience: old.Audience,
		Scopes:   old.Scopes,
		TTL:      ttl,
		Expires:  expires,
		Format:   old.Format,
		Name:     old.Name,
		IssuedBy: o.Actor,
		action:   audit.Regenerate,
		detail:   "replaces " + jti,
		replaces: jti,

		Description: old.Description,
		// Bound to the same networks: a replacement must not escape them.
		AllowedIPs: old.AllowedIPs,
		Parent:     old.Parent,
	})
	if err != nil {
		return nil, err
	}
	return i.issue(ctx, req, func(ctx context.Context, req Request, t *Token, cached bool) error {
		return i.replace(ctx, req, t, cached, jti, o)
	})
}

// withinParent returns the lifetime ttl when a token issued now with it
// ends by the expiry of the token parent, else the parent's expiry as the
// token's (Request.Expires); or an error wrapping ErrDelegation when the
// parent has expired or is unknown.
func (i *Issuer) withinParent(ctx context.Context, parent string, ttl time.Duration, now time.Time) (time.Duration, time.Time, error) {
	p, err := i.Get(ctx, parent)
	if errors.Is(err, ErrUnknownToken) {
		return 0, time.Time{}, fmt.Errorf("%w: the issuing token %q was not issued here", ErrDelegation, parent)
	}
	if err != nil {
		return 0, time.Time{}, err
	}
	switch left := p.ExpiresAt.Sub(now.Truncate(time.Second)); {
	case left < time.Second:
		return 0, time.Time{}, fmt.Errorf("%w: the issuing token %q has expired", ErrDelegation, parent)
	case ttl < left:
		return ttl, time.Time{}, nil
	}
	return 0, p.ExpiresAt, nil
}

// replace records t, issued for req (with a cached key: see record), and
// revokes the token jti with o, in one transaction.
func (i *Issuer) replace(ctx context.Context, req Request, t *Token, cached bool, jti string, o revocation.Options) error {
	tx, err := i.cfg.Store.Begin(ctx)
	if err != nil {
		return fmt.Errorf("issuer: record token: %w", err)
	}
	defer tx.Rollback()
	outcomes, err := i.recordIn(ctx, tx, []*ledgerEntry{{req: req, t: t, cached: cached}})
	if err != nil {
		return err
	}
	if outcomes[0] != nil {
		return outcomes[0]
	}
	if o.Reason == "" {
		o.Reason = "regenerated as " + t.ID
	}
	list, err := revocation.NewList(revocation.Config{Store: tx, MaxTTL: i.cfg.MaxTTL, Now: i.cfg.Now})
	if err != nil {
		return err
	}
	if _, err := list.RevokeToken(ctx, jti, o); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("issuer: record token: %w", err)
	}
	return nil
}
