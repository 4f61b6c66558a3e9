package issuer

import (
	"context"
	"fmt"
	"time"

	"github.com/writ-dev/writ/internal/lifetime"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/text"
)

// recordRules are the rules that a token must meet when it is recorded,
// checked in the transaction that records it, so that issuers that race
// (goroutines, processes, replicas) cannot both break one: the lifetime
// policy as the database holds it, and the uniqueness of names.
type recordRules struct {
	maxTTL time.Duration
	at     int64                // now, for the statuses of tokens
	named  map[[2]string]string // subject and name of the batch's tokens so far, to their jti
}

// recordRules reads what the rules need within tx.
func (i *Issuer) recordRules(ctx context.Context, tx store.Tx, now time.Time) (*recordRules, error) {
	p, err := lifetime.Read(ctx, tx, i.cfg.MaxTTL)
	if err != nil {
		return nil, err
	}
	return &recordRules{maxTTL: p.MaxTTL, at: now.Unix(), named: map[[2]string]string{}}, nil
}

// check returns the outcome of recording t, issued for req: nil, or the
// rule it breaks; err is a failure of the store.
//
// A name is unique among the live tokens of a subject: active, and not
// scheduled for revocation. A token named after its subject (the default
// name, see Request.Name) is exempt, and so is the token that a
// regeneration replaces, which may live on for its grace period.
func (r *recordRules) check(ctx context.Context, tx store.Tx, req Request, t *Token) (outcome, err error) {
	if ttl := t.ExpiresAt.Sub(t.IssuedAt); ttl > r.maxTTL {
		return errOverPolicy(ttl, r.maxTTL), nil
	}
	if req.Name == req.Subject {
		return nil, nil
	}
	key := [2]string{req.Subject, req.Name}
	if jti, ok := r.named[key]; ok {
		return errNameTaken(req, jti), nil
	}
	switch jti, err := tx.TokenNamed(ctx, req.Subject, req.Name, r.at, req.replaces); {
	case err != nil:
		return nil, err
	case jti != "":
		return errNameTaken(req, jti), nil
	}
	r.named[key] = t.ID
	return nil, nil
}

// errNameTaken is the refusal of a name that the live token jti bears.
func errNameTaken(req Request, jti string) error {
	return fmt.Errorf("%w: subject %q has a live token named %q: %s (revoke it, or choose another name)", ErrNameTaken, req.Subject, req.Name, jti)
}

// MaxDescription is the longest Request.Description, in bytes.
const MaxDescription = 1024

// checkDescription checks that s is plain text of at most MaxDescription
// bytes, or empty.
func checkDescription(s string) error {
	if s == "" {
		return nil
	}
	if err := text.Plain("description", s, MaxDescription); err != nil {
		return fmt.Errorf("%w: %w", ErrRequest, err)
	}
	return nil
}
