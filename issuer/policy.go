package issuer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/lifetime"
	"github.com/writ-dev/writ/internal/store"
)

// Bounds of the maximum lifetime that SetPolicy accepts.
const (
	MinPolicyTTL = lifetime.MinMaxTTL
	MaxPolicyTTL = lifetime.MaxMaxTTL
)

// Policy is the lifetime policy of a database, which every issuer on it
// applies.
type Policy struct {
	// MaxTTL is the longest lifetime of a token issued now.
	MaxTTL time.Duration
	// Default is true when no policy was set: MaxTTL is then
	// Config.MaxTTL.
	Default bool
}

// policyTTL is how long an issuer trusts the policy it read for its early
// check (normalize). The check that counts is made again when the token
// is recorded, in the transaction that records it.
const policyTTL = time.Second

// policyCache is the maximum lifetime last read, for the early check.
type policyCache struct {
	mu     sync.Mutex
	read   time.Time
	maxTTL time.Duration
}

// Policy returns the lifetime policy that the database holds now.
func (i *Issuer) Policy(ctx context.Context) (Policy, error) {
	p, err := lifetime.Read(ctx, i.cfg.Store, i.cfg.MaxTTL)
	if err != nil {
		return Policy{}, fmt.Errorf("issuer: read lifetime policy: %w", err)
	}
	return Policy{MaxTTL: p.MaxTTL, Default: !p.Set}, nil
}

// SetPolicy sets the maximum lifetime of the tokens that every issuer on
// the database issues from now on, and records who did (actor) in the
// audit log. maxTTL must be whole seconds from MinPolicyTTL to
// MaxPolicyTTL, else the error wraps ErrRequest. Tokens issued before keep
// the lifetime they were issued with, however it compares.
func (i *Issuer) SetPolicy(ctx context.Context, maxTTL time.Duration, actor string) (Policy, error) {
	if err := lifetime.Check(maxTTL); err != nil {
		return Policy{}, fmt.Errorf("%w: %w", ErrRequest, err)
	}
	if err := audit.CheckActor(actor); err != nil {
		return Policy{}, fmt.Errorf("%w: %w", ErrRequest, err)
	}
	tx, err := i.cfg.Store.Begin(ctx)
	if err != nil {
		return Policy{}, fmt.Errorf("issuer: set lifetime policy: %w", err)
	}
	defer tx.Rollback()
	old, now, err := lifetime.Write(ctx, tx, maxTTL, i.cfg.MaxTTL)
	if err != nil {
		return Policy{}, fmt.Errorf("issuer: set lifetime policy: %w", err)
	}
	detail := fmt.Sprintf("max_ttl %s (was %s)", formatSeconds(now.MaxTTL), formatSeconds(old.MaxTTL))
	if err := tx.AuditInsert(ctx, store.AuditRow{At: i.cfg.Now().UnixMilli(), Actor: actor, Action: audit.PolicySet, Detail: detail}); err != nil {
		return Policy{}, fmt.Errorf("issuer: set lifetime policy: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Policy{}, fmt.Errorf("issuer: set lifetime policy: %w", err)
	}
	i.policy.mu.Lock()
	i.policy.read = time.Time{} // read it again at the next issuance
	i.policy.mu.Unlock()
	return Policy{MaxTTL: now.MaxTTL}, nil
}

// formatSeconds writes d in whole seconds, as "7776000s".
func formatSeconds(d time.Duration) string { return fmt.Sprintf("%ds", d/time.Second) }

// maxTTL returns the maximum lifetime of the policy, read at most
// policyTTL ago unless fresh is set, for the early check of a request.
func (i *Issuer) maxTTL(ctx context.Context, fresh bool) (time.Duration, error) {
	i.policy.mu.Lock()
	defer i.policy.mu.Unlock()
	now := time.Now()
	if !fresh && !i.policy.read.IsZero() && now.Sub(i.policy.read) < policyTTL && now.After(i.policy.read) {
		return i.policy.maxTTL, nil
	}
	p, err := lifetime.Read(ctx, i.cfg.Store, i.cfg.MaxTTL)
	if err != nil {
		return 0, fmt.Errorf("issuer: read lifetime policy: %w", err)
	}
	i.policy.read, i.policy.maxTTL = now, p.MaxTTL
	return p.MaxTTL, nil
}

// checkLifetime returns the lifetime of a request whose lifetime is ttl
// (zero: the default, shortened to the maximum), or an error wrapping
// ErrRequest when it exceeds the policy's maximum. It reads the policy
// again before it refuses or shortens anything, so that a policy raised by
// another process applies at once; one lowered is applied by the record.
func (i *Issuer) checkLifetime(ctx context.Context, ttl time.Duration) (time.Duration, error) {
	maxTTL, err := i.maxTTL(ctx, false)
	if err == nil && max(ttl, i.cfg.DefaultTTL) > maxTTL {
		maxTTL, err = i.maxTTL(ctx, true)
	}
	if err != nil {
		return 0, err
	}
	switch {
	case ttl == 0:
		return min(i.cfg.DefaultTTL, maxTTL), nil
	case ttl > maxTTL:
		return 0, errOverPolicy(ttl, maxTTL)
	}
	return ttl, nil
}

// errOverPolicy is the refusal of a lifetime over the policy's maximum.
func errOverPolicy(ttl, maxTTL time.Duration) error {
	return fmt.Errorf("%w: lifetime %v exceeds the maximum %v (writ policy show)", ErrRequest, ttl, maxTTL)
}
