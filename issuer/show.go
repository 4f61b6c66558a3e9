package issuer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/text"
)

// Details is what Show tells of a token: its record, why it is (or will
// be) revoked, the tokens it issued, and its usage.
type Details struct {
	Record
	// Revocation is the entry of the revocation list that revokes the
	// token, or will once its grace ends; nil when none does.
	Revocation *Revocation `json:"revocation,omitempty"`
	// Children are the tokens it issued (delegated issuing), newest
	// first, at most MaxChildren of them.
	Children []Record `json:"children"`
	// Usage is what verifiers reported of its uses (see RecordUsage);
	// nil, and left out, when they reported none.
	Usage *Usage `json:"usage,omitempty"`
}

// MaxChildren is the most children Show lists.
const MaxChildren = 1000

// Revocation is an entry of the revocation list, as it covers one token.
type Revocation struct {
	// By is what the entry names: "token" (this one), "subject" (the
	// tokens of its subject issued before a time) or "key" (the tokens
	// of its key).
	By     string `json:"by"`
	Reason string `json:"reason,omitempty"`
	Actor  string `json:"actor"`
	// At is when the entry was made; EffectiveAt when it takes effect:
	// later only for a token revoked with a grace period.
	At          time.Time `json:"at"`
	EffectiveAt time.Time `json:"effective_at"`
	// Scheduled is true while EffectiveAt is in the future: the token is
	// still active.
	Scheduled bool `json:"scheduled"`
}

// Show returns the details of the token jti, or an error wrapping
// ErrUnknownToken. The record, the revocation and the usage are read in
// one snapshot of the database.
func (i *Issuer) Show(ctx context.Context, jti string) (*Details, error) {
	if !text.Storable(jti) {
		return nil, fmt.Errorf("%w: %+q", ErrUnknownToken, jti) // see text.Storable
	}
	tx, err := i.cfg.Store.BeginRead(ctx)
	if err != nil {
		return nil, fmt.Errorf("issuer: show token: %w", err)
	}
	defer tx.Rollback()
	now := i.cfg.Now()
	rows, err := tx.TokenList(ctx, store.TokenFilter{JTI: jti, At: now.Unix(), Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("issuer: show token: %w", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrUnknownToken, jti)
	}
	d := &Details{Record: records(rows)[0]}
	if d.Revocation, err = revocationOf(ctx, tx, &rows[0], now); err != nil {
		return nil, fmt.Errorf("issuer: show token: %w", err)
	}
	children, err := tx.TokenList(ctx, store.TokenFilter{Parent: jti, At: now.Unix(), Limit: MaxChildren})
	if err != nil {
		return nil, fmt.Errorf("issuer: show token: %w", err)
	}
	d.Children = append([]Record{}, records(children)...) // [] rather than null in JSON
	us, err := tx.UsageGet(ctx, []string{jti}, true)
	if err != nil {
		return nil, fmt.Errorf("issuer: show token: %w", err)
	}
	if len(us) == 1 {
		d.Usage = usageOf(&us[0], now)
	}
	return d, nil
}

// revocationOf returns the entry that revokes t, or will: its own, its
// key's, or the first of its subject's that covers it; nil when none.
func revocationOf(ctx context.Context, tx store.Tx, t *store.TokenRow, now time.Time) (*Revocation, error) {
	var found *store.RevocationRow
	for _, k := range []struct{ kind, value string }{{store.RevokeToken, t.JTI}, {store.RevokeKey, t.KID}} {
		r, err := tx.RevocationGet(ctx, k.kind, k.value)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		// A key entry takes effect at once; a token entry may wait.
		if found == nil || found.EffectiveAt > now.Unix() {
			found = &r
		}
	}
	if found == nil || found.EffectiveAt > now.Unix() {
		err := tx.RevocationEach(ctx, store.RevocationFilter{Kinds: []string{store.RevokeSubject}, Value: t.Subject}, func(r *store.RevocationRow) error {
			if r.IssuedBefore.Sec > t.IssuedAt {
				c := *r
				found = &c
				return errStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return nil, err
		}
	}
	if found == nil {
		return nil, nil
	}
	return &Revocation{By: found.Kind, Reason: found.Reason, Actor: found.Actor,
		At: time.Unix(found.CreatedAt, 0).UTC(), EffectiveAt: time.Unix(found.EffectiveAt, 0).UTC(),
		Scheduled: found.EffectiveAt > now.Unix()}, nil
}

// errStop ends a walk through the store early.
var errStop = errors.New("stop")
