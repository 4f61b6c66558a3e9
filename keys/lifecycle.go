package keys

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/audit"
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

var (
	// ErrTooEarly: the next key has not been published for
	// Policy.MinPublished, Policy.PublishFloor or a recorded publication
	// lag.
	ErrTooEarly = errors.New("the next key has not been published long enough")
	// ErrNoNextKey: the format has no published next key to activate.
	ErrNoNextKey = errors.New("no next key")
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
	NextAlg string
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
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
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
	_, err = tx.ExecContext(ctx, `INSERT INTO meta (name, value) VALUES ('publication_lag', ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, value)
	if err != nil {
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
func publicationLags(ctx context.Context, tx *sql.Tx, now time.Time) (map[time.Duration]time.Time, error) {
	var value []byte
	err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE name = 'publication_lag'`).Scan(&value)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
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
func (r *Ring) minPublished(ctx context.Context, tx *sql.Tx) (time.Duration, error) {
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
	if _, err := ParseFormat(string(format)); err != nil {
		return nil, err
	}
	next, err := r.trusted(ctx, r.db, `format = ? AND state = 'next'`, string(format))
	if err != nil {
		return nil, err
	}
	if len(next) == 0 {
		return nil, fmt.Errorf("%w for %s tokens (run writ init)", ErrNoNextKey, format)
	}
	nextAlg := next[0].alg
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

	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	defer tx.Rollback()
	now := r.now()
	rot := &Rotation{Format: format, Published: fresh.id}
	if next, err = r.trusted(ctx, tx, `format = ? AND state = 'next'`, string(format)); err != nil {
		return nil, err
	}
	if len(next) == 0 {
		return nil, fmt.Errorf("%w for %s tokens", ErrNoNextKey, format)
	}
	n := &next[0]
	rot.Activated = n.kid
	minPublished, err := r.minPublished(ctx, tx)
	if err != nil {
		return nil, err
	}
	if published := now.Sub(time.Unix(n.created, 0)); !o.Force && published < minPublished {
		return nil, fmt.Errorf("%w: %s for %v, needs %v (or force it)", ErrTooEarly, rot.Activated,
			published.Round(time.Second), minPublished)
	}
	active, err := r.trusted(ctx, tx, `format = ? AND state = 'active'`, string(format))
	if err != nil {
		return nil, err
	}
	if len(active) > 0 {
		a := &active[0]
		rot.Retired = a.kid
		// Published until the last token it signed has expired. Expire
		// checks the ledger again before removing it.
		var lastExp int64
		err := tx.QueryRowContext(ctx, `SELECT coalesce(max(expires_at), ?) FROM tokens WHERE kid = ?`, now.Unix(), a.kid).Scan(&lastExp)
		if err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
		a.state = string(Retired)
		a.retired = sql.NullInt64{Int64: now.Unix(), Valid: true}
		a.unpublish = sql.NullInt64{Int64: max(lastExp, now.Unix()) + int64(retireLeeway/time.Second), Valid: true}
		if err := r.update(ctx, tx, a, Active); err != nil {
			return nil, err
		}
	}
	n.state, n.activated = string(Active), sql.NullInt64{Int64: now.Unix(), Valid: true}
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
	if err := audit.Record(ctx, tx, audit.Event{At: now, Actor: r.actor, Action: audit.KeyRotate, KID: rot.Activated, Detail: detail}); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return rot, nil
}

// swap runs a compare-and-swap update that must change exactly one row.
func swap(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return errors.New("keys: the keys changed during the rotation; try again")
	}
	return nil
}

// RotateDue rotates each format whose active key has signed for
// Policy.Period, as writ serve does on its own and writ keys rotate --auto
// does for cron, then removes retired keys whose tokens have all expired.
// A format whose next key is not yet published long enough waits.
func (r *Ring) RotateDue(ctx context.Context) ([]Rotation, error) {
	var done []Rotation
	now := r.now()
	for _, f := range []Format{JWT, PASETO} {
		active, err := r.trusted(ctx, r.db, `format = ? AND state = 'active'`, string(f))
		if err != nil {
			return done, err
		}
		if len(active) > 0 && active[0].activated.Valid && now.Sub(time.Unix(active[0].activated.Int64, 0)) < r.policy.Period {
			continue
		}
		rot, err := r.Rotate(ctx, f, RotateOptions{})
		switch {
		case errors.Is(err, ErrTooEarly), errors.Is(err, ErrNoNextKey):
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

// Expire removes from the key sets the retired keys whose tokens have all
// expired (plus the verifiers' leeway), and returns their kids.
func (r *Ring) Expire(ctx context.Context) ([]string, error) {
	now := r.now().Unix()
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	defer tx.Rollback()
	// Rows the master key does not vouch for were never published:
	// there is nothing to remove.
	due, err := r.trusted(ctx, tx, `state = 'retired' AND unpublish_at <= ?1
		AND coalesce((SELECT max(expires_at) FROM tokens t WHERE t.kid = keys.kid), 0) + ?2 <= ?1`,
		now, int64(retireLeeway/time.Second))
	if err != nil {
		return nil, err
	}
	var kids []string
	for i := range due {
		w := &due[i]
		w.state, w.removed = string(Removed), sql.NullInt64{Int64: now, Valid: true}
		if err := r.update(ctx, tx, w, Retired); err != nil {
			return nil, err
		}
		kids = append(kids, w.kid)
		if err := audit.Record(ctx, tx, audit.Event{At: r.now(), Actor: r.actor, Action: audit.KeyRemove, KID: w.kid}); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return kids, nil
}
