package keys

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/verifier"
)

// Defaults of Policy.
const (
	DefaultPeriod = 30 * 24 * time.Hour
	// DefaultMinPublished is writ serve's default key set max-age (5m)
	// plus the verifiers' default clock leeway (30s).
	DefaultMinPublished = 5*time.Minute + 30*time.Second
	// DefaultPublishFloor covers the JWKS caches people use, which refresh
	// on floors of their own whatever max-age says: lestrrat-go/jwx's
	// cache at most every 15 minutes by default (keyfunc refetches an
	// unknown kid at most every 5), plus a minute for writ serve's refresh
	// and the clocks of the machines involved.
	DefaultPublishFloor = 16 * time.Minute
	// retireLeeway keeps a retired key published this long past the expiry
	// of its last token: a verifier may accept tokens that long past exp.
	retireLeeway = verifier.MaxLeeway
)

// Policy is the key lifecycle policy.
type Policy struct {
	// Period is how long a key signs before a scheduled rotation; zero
	// means DefaultPeriod.
	Period time.Duration
	// MinPublished is how long a next key must have been in the key sets
	// before it may sign: the key sets' Cache-Control max-age plus the
	// verifiers' clock leeway, so that no verifier meets a kid it has not
	// fetched. Zero means DefaultMinPublished.
	MinPublished time.Duration
	// PublishFloor is the least time a next key is in the key sets
	// before it signs, however short MinPublished and the recorded
	// publication lags are: JWKS caches that ignore max-age keep a key
	// set for floors of their own (raise it to cover, say, Envoy's
	// remote_jwks cache_duration where it is longer). Zero means
	// DefaultPublishFloor; negative, no floor.
	PublishFloor time.Duration
}

// MaxPolicyDuration bounds every duration of a Policy and every recorded
// publication lag, so that no sum of them overflows.
const MaxPolicyDuration = 20 * 365 * 24 * time.Hour

// check refuses a negative Period or MinPublished, and durations beyond
// MaxPolicyDuration.
func (p Policy) check() error {
	switch {
	case p.Period < 0 || p.MinPublished < 0:
		return errors.New("keys: Policy.Period and Policy.MinPublished must not be negative")
	case p.Period > MaxPolicyDuration || p.MinPublished > MaxPolicyDuration || p.PublishFloor > MaxPolicyDuration:
		return fmt.Errorf("keys: Policy durations are at most %v", MaxPolicyDuration)
	}
	return nil
}

func (p Policy) withDefaults() Policy {
	if p.Period == 0 {
		p.Period = DefaultPeriod
	}
	if p.MinPublished == 0 {
		p.MinPublished = DefaultMinPublished
	}
	if p.PublishFloor == 0 {
		p.PublishFloor = DefaultPublishFloor
	}
	return p
}

// Rotation reports what a rotation did.
type Rotation struct {
	Format    Format
	Activated string // the former next key, now signing
	Retired   string // the former active key; empty if there was none
	Published string // the fresh next key
}

// RotateOptions adjust one rotation.
type RotateOptions struct {
	// Force rotates even if the next key was published less than
	// Policy.MinPublished or Policy.PublishFloor ago: verifiers with a
	// cached key set may then reject new tokens until they refetch. For
	// emergencies.
	Force bool
	// NextAlg is the algorithm of the fresh next key; empty means that of
	// the key being activated. Changing a format's algorithm takes two
	// rotations: the first publishes a key of the new algorithm, the
	// second makes it sign.
	NextAlg verifier.Algorithm
	// Actor names who rotates, for the audit log; empty means the
	// keyring's (RingConfig.Actor).
	Actor string
}

// RecordPublicationLag notes how long after a key enters the database a
// verifier may still hold a key set without it: a server's refresh interval
// plus its key sets' Cache-Control max-age. writ serve records it when it
// starts and every minute after. Rotate, in any process, then waits the
// longest lag in force plus the verifiers' clock leeway after a key's
// publication, even where its own Policy.MinPublished is shorter. A record
// stays in force for twice its lag plus a minute after it was last made:
// key sets served by a server that has just stopped may still be cached.
func (r *Ring) RecordPublicationLag(ctx context.Context, d time.Duration) error {
	if d < 0 || d > MaxPolicyDuration {
		return fmt.Errorf("keys: a publication lag of %v: want 0 to %v", d, MaxPolicyDuration)
	}
	tx, err := r.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := r.now()
	lags, err := publicationLags(ctx, tx, now)
	if err != nil {
		return err
	}
	lags[d] = now.Add(2*d + time.Minute)
	var value []byte
	for lag, until := range lags {
		value = fmt.Appendf(value, "%d:%d ", int64(lag/time.Second), until.Unix())
	}
	if err := tx.MetaPut(ctx, store.MetaPublicationLag, value); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	return nil
}

// publicationLags reads the recorded lags still in force at now, each with
// the time until which it applies. A malformed record counts as none: the
// next RecordPublicationLag rewrites it.
func publicationLags(ctx context.Context, tx store.Tx, now time.Time) (map[time.Duration]time.Time, error) {
	value, err := tx.MetaGet(ctx, store.MetaPublicationLag)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("keys: %w", err)
	}
	lags := map[time.Duration]time.Time{}
	for _, f := range strings.Fields(string(value)) {
		var lag, until int64
		if _, err := fmt.Sscanf(f, "%d:%d", &lag, &until); err != nil || lag < 0 || lag > int64(MaxPolicyDuration/time.Second) {
			continue
		}
		if u := time.Unix(until, 0); u.After(now) {
			lags[time.Duration(lag)*time.Second] = u
		}
	}
	return lags, nil
}

// minPublished is how long a next key must have been published before it
// signs: the policy's, its floor, or longer while a recorded publication
// lag applies.
func (r *Ring) minPublished(ctx context.Context, tx store.Tx) (time.Duration, error) {
	lags, err := publicationLags(ctx, tx, r.now())
	if err != nil {
		return 0, err
	}
	longest := max(r.policy.MinPublished, r.policy.PublishFloor)
	for lag := range lags {
		longest = max(longest, lag+verifier.DefaultLeeway)
	}
	return longest, nil
}

// Rotate makes format's next key active, retires the active key (its
// private half destroyed; it stays published until the last token it signed
// has expired) and publishes a fresh next key, in one transaction. The swap
// is a compare-and-swap on the keys' states, so concurrent rotations from
// several processes leave exactly one active key, and only one of them
// rotates.
func (r *Ring) Rotate(ctx context.Context, format Format, o RotateOptions) (*Rotation, error) {
	return r.rotate(ctx, format, o, false)
}

// errNotDue is rotate's answer, for RotateDue, when format's active key has
// not signed for Policy.Period: another process rotated first.
var errNotDue = errors.New("keys: rotation not due")

// rotate is Rotate; with onlyIfDue, it rotates only if format's active key,
// read within the rotation's transaction, has signed for Policy.Period.
func (r *Ring) rotate(ctx context.Context, format Format, o RotateOptions, onlyIfDue bool) (*Rotation, error) {
	if _, err := ParseFormat(string(format)); err != nil {
		return nil, err
	}
	if err := audit.CheckActor(o.Actor); o.Actor != "" && err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	nextOnly := store.KeyFilter{Format: string(format), States: []string{string(Next)}}
	next, err := r.trusted(ctx, r.store, nextOnly)
	if err != nil {
		return nil, err
	}
	if len(next) == 0 {
		return nil, fmt.Errorf("%w for %s tokens (run writ init)", ErrNoNextKey, format)
	}
	nextAlg := verifier.Algorithm(next[0].Alg)
	if o.NextAlg != "" {
		if FormatOf(o.NextAlg) != format {
			return nil, fmt.Errorf("keys: %s is not an algorithm for %s tokens", o.NextAlg, format)
		}
		nextAlg = o.NextAlg
	}
	// Generated outside the transaction: RSA generation takes a while.
	fresh, err := Generate(nextAlg)
	if err != nil {
		return nil, err
	}

	tx, err := r.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := r.now()
	rot := &Rotation{Format: format, Published: fresh.id}
	if next, err = r.trusted(ctx, tx, nextOnly); err != nil {
		return nil, err
	}
	if len(next) == 0 {
		return nil, fmt.Errorf("%w for %s tokens", ErrNoNextKey, format)
	}
	n := &next[0]
	rot.Activated = n.KID
	minPublished, err := r.minPublished(ctx, tx)
	if err != nil {
		return nil, err
	}
	if published := now.Sub(time.Unix(n.Created, 0)); !o.Force && published < minPublished {
		return nil, fmt.Errorf("%w: %s for %v, needs %v (or force it)", ErrTooEarly, rot.Activated,
			published.Round(time.Second), minPublished)
	}
	active, err := r.trusted(ctx, tx, store.KeyFilter{Format: string(format), States: []string{string(Active)}})
	if err != nil {
		return nil, err
	}
	if onlyIfDue && !r.due(active, now) {
		return nil, errNotDue
	}
	if len(active) > 0 {
		a := &active[0]
		rot.Retired = a.KID
		// Published until the last token it signed has expired. Expire
		// checks the ledger again before removing it.
		lastExp, ok, err := tx.TokenLastExpiry(ctx, a.KID)
		if err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
		if !ok {
			lastExp = now.Unix()
		}
		a.State = string(Retired)
		a.Retired = store.At(now.Unix())
		a.Unpublish = store.At(max(lastExp, now.Unix()) + int64(retireLeeway/time.Second))
		if err := r.update(ctx, tx, a, Active); err != nil {
			return nil, err
		}
	}
	n.State, n.Activated = string(Active), store.At(now.Unix())
	if err := r.update(ctx, tx, n, Next); err != nil {
		return nil, err
	}
	if err := r.insertKey(ctx, tx, fresh, Next); err != nil {
		return nil, err
	}
	detail := fmt.Sprintf("%s: %s now signs", format, rot.Activated)
	if rot.Retired != "" {
		detail += ", " + rot.Retired + " retired"
	}
	if o.Force {
		detail += " (forced)"
	}
	if err := r.recordAs(ctx, tx, o.Actor, now, audit.KeyRotate, rot.Activated, detail); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return rot, nil
}

// RotateDue rotates each format whose active key has signed for
// Policy.Period, as writ serve does on its own and writ keys rotate --auto
// does for cron, then removes retired keys whose tokens have all expired.
// A format whose next key is not yet published long enough waits.
func (r *Ring) RotateDue(ctx context.Context) ([]Rotation, error) {
	var done []Rotation
	now := r.now()
	for _, f := range []Format{JWT, PASETO} {
		active, err := r.trusted(ctx, r.store, store.KeyFilter{Format: string(f), States: []string{string(Active)}})
		if err != nil {
			return done, err
		}
		if !r.due(active, now) {
			continue
		}
		// Checked again within the rotation's transaction: replicas
		// sharing the database run this at once, and the first to rotate
		// makes the rotation not due for the others, whatever their
		// clocks say about the next key's age.
		rot, err := r.rotate(ctx, f, RotateOptions{}, true)
		switch {
		case errors.Is(err, errNotDue), errors.Is(err, ErrTooEarly), errors.Is(err, ErrNoNextKey):
			continue
		case err != nil:
			return done, err
		}
		done = append(done, *rot)
	}
	if _, err := r.Expire(ctx); err != nil {
		return done, err
	}
	return done, nil
}

// due reports whether a rotation is due at now, given the active key (none,
// or one row): it is if there is none, or it has signed for Policy.Period.
func (r *Ring) due(active []store.KeyRow, now time.Time) bool {
	return len(active) == 0 || !active[0].Activated.Valid || now.Sub(time.Unix(active[0].Activated.Sec, 0)) >= r.policy.Period
}

// Expire removes from the key sets the retired keys whose tokens have all
// expired (plus the verifiers' leeway), and returns their kids.
func (r *Ring) Expire(ctx context.Context) ([]string, error) {
	now := r.now().Unix()
	tx, err := r.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	// Rows the master key does not vouch for were never published:
	// there is nothing to remove.
	retired, err := r.trusted(ctx, tx, store.KeyFilter{States: []string{string(Retired)}})
	if err != nil {
		return nil, err
	}
	var kids []string
	for i := range retired {
		w := &retired[i]
		if due, err := r.removable(ctx, tx, w, now); err != nil {
			return nil, err
		} else if !due {
			continue
		}
		w.State, w.Removed = string(Removed), store.At(now)
		if err := r.update(ctx, tx, w, Retired); err != nil {
			return nil, err
		}
		kids = append(kids, w.KID)
		if err := r.record(ctx, tx, r.now(), audit.KeyRemove, w.KID, ""); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return kids, nil
}

// removable reports whether the retired key w may leave the key sets at
// now: its publication ran out, and every token it signed has expired,
// plus the verifiers' leeway, by the ledger read within tx.
func (r *Ring) removable(ctx context.Context, tx store.Tx, w *store.KeyRow, now int64) (bool, error) {
	if !w.Unpublish.Valid || w.Unpublish.Sec > now {
		return false, nil
	}
	lastExp, _, err := tx.TokenLastExpiry(ctx, w.KID) // 0 when it signed none
	if err != nil {
		return false, fmt.Errorf("keys: %w", err)
	}
	return lastExp+int64(retireLeeway/time.Second) <= now, nil
}
