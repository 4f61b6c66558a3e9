// Package lifetime keeps the lifetime policy of writ's tokens in the
// database (the meta row store.MetaLifetimePolicy), so that every process
// on one database applies the same one: the issuer refuses tokens over
// its maximum, and the revocation list keeps subject and key entries for
// as long as the longest lifetime ever allowed.
package lifetime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

// Bounds of a maximum lifetime. A token must live long enough to be used,
// and not so long that the revocation entries covering it (kept until it
// expires) pile up for decades.
const (
	MinMaxTTL = time.Minute
	MaxMaxTTL = 5 * 365 * 24 * time.Hour
)

// Policy is the lifetime policy as the database holds it.
type Policy struct {
	// MaxTTL is the longest lifetime of a token issued now.
	MaxTTL time.Duration
	// Longest is the longest MaxTTL ever in force on this database (at
	// least MaxTTL): a token issued before the policy was lowered may
	// still live that long.
	Longest time.Duration
	// Set is false when the database holds no policy: MaxTTL and Longest
	// are then the default given to Read.
	Set bool
}

// stored is the JSON of the meta row, in whole seconds.
type stored struct {
	MaxTTL  int64 `json:"max_ttl"`
	Longest int64 `json:"longest"`
}

// Check returns an error when d is outside [MinMaxTTL, MaxMaxTTL].
func Check(d time.Duration) error {
	if d < MinMaxTTL || d > MaxMaxTTL || d%time.Second != 0 {
		return fmt.Errorf("maximum lifetime %v: want whole seconds from %v to %v (%d days)", d, MinMaxTTL, MaxMaxTTL, MaxMaxTTL/(24*time.Hour))
	}
	return nil
}

// Read returns the policy that e holds, or def (Set false) when it holds
// none. A row that does not parse, or holds a lifetime out of bounds, is
// an error: writ wrote neither.
func Read(ctx context.Context, e store.Executor, def time.Duration) (Policy, error) {
	b, err := e.MetaGet(ctx, store.MetaLifetimePolicy)
	if errors.Is(err, store.ErrNotFound) {
		return Policy{MaxTTL: def, Longest: def}, nil
	}
	if err != nil {
		return Policy{}, err
	}
	var s stored
	if err := json.Unmarshal(b, &s); err != nil {
		return Policy{}, fmt.Errorf("lifetime policy: %w", err)
	}
	p := Policy{MaxTTL: time.Duration(s.MaxTTL) * time.Second, Longest: time.Duration(s.Longest) * time.Second, Set: true}
	if err := Check(p.MaxTTL); err != nil {
		return Policy{}, fmt.Errorf("lifetime policy: %w", err)
	}
	if p.Longest < p.MaxTTL || p.Longest > MaxMaxTTL {
		return Policy{}, fmt.Errorf("lifetime policy: longest lifetime %v out of bounds", p.Longest)
	}
	return p, nil
}

// Write sets the maximum lifetime to maxTTL within tx, which must be a
// write transaction, and returns the policy it replaced (def when none)
// and the new one. Longest never goes down: it is the larger of the old
// policy's Longest (or def) and maxTTL.
func Write(ctx context.Context, tx store.Tx, maxTTL, def time.Duration) (old, now Policy, err error) {
	if err := Check(maxTTL); err != nil {
		return Policy{}, Policy{}, err
	}
	if old, err = Read(ctx, tx, def); err != nil {
		return Policy{}, Policy{}, err
	}
	now = Policy{MaxTTL: maxTTL, Longest: max(old.Longest, maxTTL), Set: true}
	b, err := json.Marshal(stored{MaxTTL: int64(now.MaxTTL / time.Second), Longest: int64(now.Longest / time.Second)})
	if err != nil {
		return Policy{}, Policy{}, err
	}
	if err := tx.MetaPut(ctx, store.MetaLifetimePolicy, b); err != nil {
		return Policy{}, Policy{}, err
	}
	return old, now, nil
}
