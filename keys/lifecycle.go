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
	// retireLeeway keeps a retired key published this long past the expiry
	// of its last token: a verifier may accept tokens that long past exp.
	retireLeeway = verifier.MaxLeeway
)

var (
	// ErrTooEarly: the next key has not been published for Policy.MinPublished.
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
}

func (p Policy) withDefaults() Policy {
	if p.Period == 0 {
		p.Period = DefaultPeriod
	}
	if p.MinPublished == 0 {
		p.MinPublished = DefaultMinPublished
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
	// Policy.MinPublished ago: verifiers with a cached key set may then
	// reject new tokens until they refetch. For emergencies.
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
		if _, err := fmt.Sscanf(f, "%d:%d", &lag, &until); err != nil || lag < 0 {
			continue
		}
		if u := time.Unix(until, 0); u.After(now) {
			lags[time.Duration(lag)*time.Second] = u
		}
	}
	return lags, nil
}

// minPublished is how long a next key must have been published before it
// signs: the policy's, or longer while a recorded publication lag applies.
func (r *Ring) minPublished(ctx context.Context, tx *sql.Tx) (time.Duration, error) {
	lags, err := publicationLags(ctx, tx, r.now())
	if err != nil {
		return 0, err
	}
	longest := r.policy.MinPublished
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
	var nextAlg string
	err := r.db.QueryRowContext(ctx, `SELECT alg FROM keys WHERE format = ? AND state = 'next' ORDER BY created_at, rowid LIMIT 1`,
		string(format)).Scan(&nextAlg)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w for %s tokens (run writ init)", ErrNoNextKey, format)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
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
	var created int64
	err = tx.QueryRowContext(ctx, `SELECT kid, created_at FROM keys WHERE format = ? AND state = 'next' ORDER BY created_at, rowid LIMIT 1`,
		string(format)).Scan(&rot.Activated, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w for %s tokens", ErrNoNextKey, format)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	minPublished, err := r.minPublished(ctx, tx)
	if err != nil {
		return nil, err
	}
	if published := now.Sub(time.Unix(created, 0)); !o.Force && published < minPublished {
		return nil, fmt.Errorf("%w: %s for %v, needs %v (or force it)", ErrTooEarly, rot.Activated,
			published.Round(time.Second), minPublished)
	}
	err = tx.QueryRowContext(ctx, `SELECT kid FROM keys WHERE format = ? AND state = 'active'`, string(format)).Scan(&rot.Retired)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if rot.Retired != "" {
		// Published until the last token it signed has expired. Expire
		// checks the ledger again before removing it.
		var lastExp int64
		err := tx.QueryRowContext(ctx, `SELECT coalesce(max(expires_at), ?) FROM tokens WHERE kid = ?`, now.Unix(), rot.Retired).Scan(&lastExp)
		if err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
		unpublish := max(lastExp, now.Unix()) + int64(retireLeeway/time.Second)
		if err := swap(ctx, tx, `UPDATE keys SET state = 'retired', retired_at = ?, unpublish_at = ?, private_key = NULL
			WHERE kid = ? AND state = 'active'`, now.Unix(), unpublish, rot.Retired); err != nil {
			return nil, err
		}
	}
	if err := swap(ctx, tx, `UPDATE keys SET state = 'active', activated_at = ? WHERE kid = ? AND state = 'next'`,
		now.Unix(), rot.Activated); err != nil {
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
		var activated sql.NullInt64
		err := r.db.QueryRowContext(ctx, `SELECT activated_at FROM keys WHERE format = ? AND state = 'active'`, string(f)).Scan(&activated)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return done, fmt.Errorf("keys: %w", err)
		}
		if activated.Valid && now.Sub(time.Unix(activated.Int64, 0)) < r.policy.Period {
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
	rows, err := tx.QueryContext(ctx, `SELECT kid FROM keys k WHERE state = 'retired' AND unpublish_at <= ?1
		AND coalesce((SELECT max(expires_at) FROM tokens t WHERE t.kid = k.kid), 0) + ?2 <= ?1`,
		now, int64(retireLeeway/time.Second))
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	var kids []string
	for rows.Next() {
		var kid string
		if err := rows.Scan(&kid); err != nil {
			rows.Close()
			return nil, fmt.Errorf("keys: %w", err)
		}
		kids = append(kids, kid)
	}
	rows.Close()
	for _, kid := range kids {
		if err := swap(ctx, tx, `UPDATE keys SET state = 'removed', removed_at = ?, private_key = NULL WHERE kid = ? AND state = 'retired'`, now, kid); err != nil {
			return nil, err
		}
		if err := audit.Record(ctx, tx, audit.Event{At: r.now(), Actor: r.actor, Action: audit.KeyRemove, KID: kid}); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return kids, nil
}
