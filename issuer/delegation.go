package issuer

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/permission"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/verifier"
)

// IssueScope is the scope that lets a token issue tokens itself (delegated
// issuing, see Request.Delegator): for its own subject, within its own
// grants.
const IssueScope = "writ:issue"

// reservedScopes starts the scopes that are writ's own (writ:admin,
// IssueScope, …): a delegated token never carries one, so delegation is
// one level deep.
const reservedScopes = "writ:"

// delegate checks req, normalized but for its lifetime, against the
// grants of req.Delegator, the token that asks for it, and returns an
// error wrapping ErrDelegation that names the first rule it breaks:
//
//   - the subject is the delegator's;
//   - every scope is implied by one of the delegator's (permission.Implies:
//     a flat scope only by itself) and none is one of writ's own (writ:…);
//   - every audience is one of the delegator's;
//   - the expiry is no later than the delegator's: a lifetime or expiry
//     asked for that ends later is refused, while the default lifetime is
//     cut to end with the delegator;
//   - when the delegator is bound to networks (allowed_ips), the token is
//     bound too, each of its prefixes inside one of the delegator's: a
//     request for an unbound token is refused rather than bound silently.
//
// The format is free. req.Parent becomes the delegator's jti, so that
// revoking the delegator revokes the token, and the ledger refuses the
// token if the delegator is revoked by the time it commits (see
// checkParents). req.Expires is set, so that the token ends by the
// delegator's expiry however long signing takes. A request without a
// Delegator is left as it is.
func (i *Issuer) delegate(req *Request) error {
	d := req.Delegator
	if d == nil {
		return nil
	}
	switch {
	case d.ID == "" || d.Issuer != i.cfg.Issuer:
		return fmt.Errorf("%w: the issuing token is not one of this issuer's", ErrDelegation)
	case !d.HasScope(IssueScope):
		return fmt.Errorf("%w: the issuing token lacks the scope %s", ErrDelegation, IssueScope)
	case req.Parent != "" && req.Parent != d.ID:
		return fmt.Errorf("%w: the parent %q is not the issuing token %q", ErrRequest, req.Parent, d.ID)
	case req.Subject != d.Subject:
		return fmt.Errorf("%w: subject %q is not the issuing token's subject %q", ErrDelegation, req.Subject, d.Subject)
	}
	granted := d.Scopes()
	for _, s := range req.Scopes {
		if strings.HasPrefix(s, reservedScopes) {
			return fmt.Errorf("%w: scope %q is writ's own, which a delegated token never carries", ErrDelegation, s)
		}
		if !slices.ContainsFunc(granted, func(g string) bool { return permission.Implies(g, s) }) {
			return fmt.Errorf("%w: scope %q is not implied by the issuing token's scopes", ErrDelegation, s)
		}
	}
	for _, a := range req.Audience {
		if !slices.Contains(d.Audience, a) {
			return fmt.Errorf("%w: audience %q is not one of the issuing token's audiences", ErrDelegation, a)
		}
	}
	if err := delegateNetworks(req.AllowedIPs, d.AllowedIPs); err != nil {
		return err
	}
	now := i.cfg.Now().Truncate(time.Second)
	limit := d.ExpiresAt.Truncate(time.Second)
	exp := req.Expires
	switch {
	case !exp.IsZero():
	case req.TTL != 0:
		exp = now.Add(req.TTL)
	default:
		if exp = now.Add(i.cfg.DefaultTTL); exp.After(limit) {
			exp = limit
		}
		if exp.Sub(now) < time.Second {
			return fmt.Errorf("%w: the issuing token expires within a second", ErrDelegation)
		}
	}
	if exp.After(limit) {
		return fmt.Errorf("%w: expiry %s is after the issuing token's expiry %s", ErrDelegation,
			exp.UTC().Format(time.RFC3339), limit.UTC().Format(time.RFC3339))
	}
	req.Expires, req.TTL = exp, exp.Sub(now)
	req.Parent = d.ID
	req.detail = "delegated by " + d.ID
	return nil
}

// delegateNetworks checks that a delegated token bound to the networks
// child is bound within those of its delegator, parent, if any.
func delegateNetworks(child, parent []netip.Prefix) error {
	if len(parent) == 0 {
		return nil
	}
	if len(child) == 0 {
		return fmt.Errorf("%w: the issuing token is bound to networks (allowed_ips): the token must be bound to networks within them", ErrDelegation)
	}
	for _, c := range child {
		if !slices.ContainsFunc(parent, func(p netip.Prefix) bool { return prefixWithin(c, p) }) {
			return fmt.Errorf("%w: network %s is not within the issuing token's allowed_ips", ErrDelegation, c)
		}
	}
	return nil
}

// prefixWithin reports whether every address of the prefix c is in p: an
// IPv4 prefix is never within an IPv6 one, nor the reverse.
func prefixWithin(c, p netip.Prefix) bool {
	return c.IsValid() && p.IsValid() && p.Bits() <= c.Bits() && p.Contains(c.Masked().Addr())
}

// checkParent returns an error wrapping ErrDelegation when the parent of
// req, which is recorded in tx, is unknown or revoked: by an entry in
// force at now (of its jti, its subject or its key) or by one of its jti
// still to take effect; or when req.Delegator's claims are not those
// recorded for its jti (a token forged with a stolen key, reusing the jti
// of a real one, must not widen what it may delegate). Checked in the
// transaction that records the child, this is what keeps a revocation of
// the parent, which revokes its descendants in its own transaction, from
// missing a child issued meanwhile: the two are serialized by the store's
// write lock.
func checkParent(ctx context.Context, tx store.Tx, req *Request, exp, now time.Time) error {
	parent := req.Parent
	p, err := tx.TokenGet(ctx, parent)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: the issuing token %q was not issued here", ErrDelegation, parent)
	}
	if err != nil {
		return fmt.Errorf("issuer: record token: %w", err)
	}
	if exp.Unix() > p.ExpiresAt {
		return fmt.Errorf("%w: the token would expire at %s, after the issuing token %q", ErrDelegation, exp.UTC().Format(time.RFC3339), parent)
	}
	if d := req.Delegator; d != nil && (d.Subject != p.Subject || d.KeyID != p.KID || d.Scope != p.Scopes ||
		strings.Join(d.Audience, " ") != p.Audience || d.ExpiresAt.Unix() != p.ExpiresAt || d.IssuedAt.Unix() != p.IssuedAt ||
		joinPrefixes(d.AllowedIPs) != p.AllowedIPs) {
		return fmt.Errorf("%w: the issuing token's claims are not those recorded for %q", ErrDelegation, parent)
	}
	revoked, err := tx.RevocationCovers(ctx, now.Unix(), p.JTI, p.Subject, p.KID, p.IssuedAt)
	if err == nil && !revoked {
		_, err = tx.RevocationGet(ctx, store.RevokeToken, p.JTI)
		if revoked = err == nil; errors.Is(err, store.ErrNotFound) {
			err = nil
		}
	}
	switch {
	case err != nil:
		return fmt.Errorf("issuer: record token: %w", err)
	case revoked:
		return fmt.Errorf("%w: the issuing token %q is revoked", ErrDelegation, parent)
	}
	return nil
}

// Sees reports whether the token d, one that issues by delegation (see
// Request.Delegator), may read rec: the records of its own subject only.
// A nil d is an admin's request, which reads any.
func Sees(d *verifier.Claims, rec *Record) bool {
	return d == nil || rec.Subject == d.Subject
}

// MayRevoke reports whether the token d, one that issues by delegation,
// may revoke rec: itself and the tokens it issued. A nil d is an admin's
// request, which revokes any.
func MayRevoke(d *verifier.Claims, rec *Record) bool {
	return d == nil || rec.ID == d.ID || Sees(d, rec) && rec.Parent == d.ID
}
