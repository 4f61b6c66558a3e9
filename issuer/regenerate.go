package issuer

import (
	"context"
	"fmt"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/revocation"
)

// Regenerate issues a replacement for the token jti, with the same subject,
// scopes, audience, name, format and lifetime, and revokes the old token,
// after o.Grace if set, which must end by the old token's expiry
// (revocation.CheckGrace). It returns the new token. Options that the
// revocation would refuse (revocation.Options.Check, CheckGrace) are refused
// before anything is issued; an empty o.Reason says which token replaces
// it.
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
	// Before the replacement is issued: a grace that the revocation would
	// refuse must not leave two live tokens behind.
	now := i.cfg.Now()
	if err := revocation.CheckGrace(o.Grace, now, old.ExpiresAt); err != nil {
		return nil, err
	}
	if o.Grace > 0 { // ends as checked, however long issuing takes
		o.Grace, o.EffectiveAt = 0, now.Add(o.Grace)
	}
	req, err := i.normalize(Request{
		Subject:  old.Subject,
		Audience: old.Audience,
		Scopes:   old.Scopes,
		TTL:      old.ExpiresAt.Sub(old.IssuedAt),
		Format:   old.Format,
		Name:     old.Name,
		Parent:   old.Parent,
		// Bound to the same networks: a replacement must not escape them.
		AllowedIPs: old.AllowedIPs,
		IssuedBy:   o.Actor,
		action:     audit.Regenerate,
		detail:     "replaces " + jti,
	})
	if err != nil {
		return nil, err
	}
	return i.issue(ctx, req, func(ctx context.Context, req Request, t *Token, cached bool) error {
		return i.replace(ctx, req, t, cached, jti, o)
	})
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
