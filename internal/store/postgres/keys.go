package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/writ-dev/writ/internal/store"
)

// keyColumns are the columns of a key row, in KeyRow's order.
const keyColumns = `kid, format, alg, state, public_key, private_key, created_at, activated_at, retired_at, unpublish_at, removed_at, compromised_at, mac`

// keyQuery reads the seal and the key rows that where selects in one
// statement (see store.Executor.KeyRows).
func keyQuery(where string) string {
	return `SELECT (SELECT value FROM meta WHERE name = '` + store.MetaKeySeal + `'), ` + keyColumns + `
		FROM keys WHERE ` + where + ` ORDER BY created_at, row_id`
}

// activeKeyQuery is the statement of KeyActive, which pgx prepares once
// per connection and caches.
var activeKeyQuery = keyQuery(`format = $1 AND state = 'active'`)

// args numbers the parameters of a statement as they are added.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

func (e *executor) KeyRows(ctx context.Context, f store.KeyFilter) ([]store.KeyRow, []byte, error) {
	where := []string{"true"}
	var a args
	if f.KID != "" {
		where = append(where, "kid = "+a.add(f.KID))
	}
	if f.Format != "" {
		where = append(where, "format = "+a.add(f.Format))
	}
	if len(f.States) > 0 {
		where = append(where, "state = ANY("+a.add(f.States)+")")
	}
	if f.Unbound {
		where = append(where, "mac IS NULL")
	}
	rs, err := e.q.Query(ctx, keyQuery(strings.Join(where, " AND ")), a...)
	if err != nil {
		return nil, nil, err
	}
	return scanKeys(rs)
}

func (e *executor) KeyActive(ctx context.Context, format string) ([]store.KeyRow, []byte, error) {
	rs, err := e.q.Query(ctx, activeKeyQuery, format)
	if err != nil {
		return nil, nil, err
	}
	return scanKeys(rs)
}

func scanKeys(rs pgx.Rows) (out []store.KeyRow, seal []byte, err error) {
	defer rs.Close()
	for rs.Next() {
		var r store.KeyRow
		var times [5]pgtype.Int8
		err := rs.Scan(&seal, &r.KID, &r.Format, &r.Alg, &r.State, &r.Public, &r.Private, &r.Created,
			&times[0], &times[1], &times[2], &times[3], &times[4], &r.MAC)
		if err != nil {
			return nil, nil, err
		}
		r.Activated, r.Retired, r.Unpublish, r.Removed, r.Compromised = unix(times[0]), unix(times[1]), unix(times[2]), unix(times[3]), unix(times[4])
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		return nil, nil, err
	}
	return out, seal, nil
}

func unix(n pgtype.Int8) store.Unix { return store.Unix{Sec: n.Int64, Valid: n.Valid} }

func null(u store.Unix) pgtype.Int8 { return pgtype.Int8{Int64: u.Sec, Valid: u.Valid} }

func (e *executor) KeyState(ctx context.Context, kid string) (string, error) {
	var state string
	err := e.q.QueryRow(ctx, `SELECT state FROM keys WHERE kid = $1`, kid).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("key %q: %w", kid, store.ErrNotFound)
	}
	return state, err
}

// KeyInsert inserts with ON CONFLICT DO NOTHING, so that a refused key
// leaves the transaction usable, as SQLite's failed statement does.
func (e *executor) KeyInsert(ctx context.Context, r store.KeyRow) error {
	return e.inTx(ctx, func(e *executor) error {
		if err := e.activeConflict(ctx, r); err != nil {
			return err
		}
		tag, err := e.q.Exec(ctx, `INSERT INTO keys (`+keyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			ON CONFLICT DO NOTHING`,
			r.KID, r.Format, r.Alg, r.State, r.Public, r.Private, r.Created,
			null(r.Activated), null(r.Retired), null(r.Unpublish), null(r.Removed), null(r.Compromised), r.MAC)
		if err != nil {
			return keyConflict(err, r)
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("%w: key %q exists", store.ErrConflict, r.KID)
		}
		e.changed(store.ChangedKeys)
		return nil
	})
}

// activeConflict returns an error wrapping store.ErrConflict when r is
// active and another key of its format is. Every write holds the write
// lock, so it stays true until the transaction ends; the unique index
// keys_one_active remains the rule.
func (e *executor) activeConflict(ctx context.Context, r store.KeyRow) error {
	if r.State != "active" {
		return nil
	}
	var n int
	err := e.q.QueryRow(ctx, `SELECT count(*) FROM keys WHERE format = $1 AND state = 'active' AND kid <> $2`, r.Format, r.KID).Scan(&n)
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%w: %s already has an active key", store.ErrConflict, r.Format)
	}
	return nil
}

// keyConflict turns the refusals of the keys table's unique indexes into
// errors wrapping store.ErrConflict.
func keyConflict(err error, r store.KeyRow) error {
	switch c, ok := isUnique(err); {
	case !ok:
		return err
	case c == "keys_one_active":
		return fmt.Errorf("%w: %s already has an active key", store.ErrConflict, r.Format)
	default:
		return fmt.Errorf("%w: key %q exists", store.ErrConflict, r.KID)
	}
}

func (e *executor) KeyUpdate(ctx context.Context, r store.KeyRow, from string, keepPrivate bool) error {
	return e.inTx(ctx, func(e *executor) error {
		if err := e.activeConflict(ctx, r); err != nil {
			return err
		}
		tag, err := e.q.Exec(ctx, `UPDATE keys SET state = $1, activated_at = $2, retired_at = $3, unpublish_at = $4, removed_at = $5,
			compromised_at = $6, mac = $7, private_key = CASE WHEN $10::boolean THEN private_key END
			WHERE kid = $8 AND state = $9`,
			r.State, null(r.Activated), null(r.Retired), null(r.Unpublish), null(r.Removed), null(r.Compromised), r.MAC, r.KID, from, keepPrivate)
		if err != nil {
			return keyConflict(err, r)
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("%w: key %q is no longer %s", store.ErrConflict, r.KID, from)
		}
		e.changed(store.ChangedKeys)
		return nil
	})
}

func (e *executor) KeySetMAC(ctx context.Context, kid string, mac []byte) error {
	return e.exec(ctx, store.ChangedKeys, `UPDATE keys SET mac = $1 WHERE kid = $2`, mac, kid)
}

func (e *executor) KeySetPrivate(ctx context.Context, kid string, private []byte) error {
	return e.exec(ctx, store.ChangedKeys, `UPDATE keys SET private_key = $1 WHERE kid = $2`, private, kid)
}

// MetaDelete announces a change as MetaPut does.
func (e *executor) MetaDelete(ctx context.Context, name string) error {
	return e.exec(ctx, metaChange(name), `DELETE FROM meta WHERE name = $1`, name)
}

func (e *executor) MetaGet(ctx context.Context, name string) ([]byte, error) {
	var value []byte
	err := e.q.QueryRow(ctx, `SELECT value FROM meta WHERE name = $1`, name).Scan(&value)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("meta %q: %w", name, store.ErrNotFound)
	}
	return value, err
}

// MetaPut announces a change of the revocation epoch as one of the
// revocations, and of any other row as one of the keys (see
// store.Changes).
func (e *executor) MetaPut(ctx context.Context, name string, value []byte) error {
	return e.exec(ctx, metaChange(name), `INSERT INTO meta (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
}

func (e *executor) MetaEach(ctx context.Context, fn func(string, []byte) error) error {
	rows, err := e.q.Query(ctx, `SELECT name, value FROM meta ORDER BY name COLLATE "C"`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var name string
	var value []byte
	for rows.Next() {
		if err := rows.Scan(&name, &value); err != nil {
			return err
		}
		if err := fn(name, value); err != nil {
			return err
		}
	}
	return rows.Err()
}

// metaChange is what a write of the meta row name changes: the
// revocations for the revocation epoch, the keys for any other row.
func metaChange(name string) store.Change {
	if name == store.MetaRevocationEpoch {
		return store.ChangedRevocations
	}
	return store.ChangedKeys
}
