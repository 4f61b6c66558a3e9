package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/writ-dev/writ/internal/store"
)

// keyColumns are the columns of a key row, in KeyRow's order.
const keyColumns = `kid, format, alg, state, public_key, private_key, created_at, activated_at, retired_at, unpublish_at, removed_at, compromised_at, mac`

// keyQuery reads the seal and the key rows that where selects in one
// statement (see store.Executor.KeyRows).
func keyQuery(where string) string {
	return `SELECT (SELECT value FROM meta WHERE name = '` + store.MetaKeySeal + `'), ` + keyColumns + `
		FROM keys WHERE ` + where + ` ORDER BY created_at, rowid`
}

// activeKeyQuery is the statement of KeyActive.
var activeKeyQuery = keyQuery(`format = ? AND state = 'active'`)

func (e *executor) KeyRows(ctx context.Context, f store.KeyFilter) ([]store.KeyRow, []byte, error) {
	where := []string{"true"}
	var args []any
	if f.KID != "" {
		where, args = append(where, "kid = ?"), append(args, f.KID)
	}
	if f.Format != "" {
		where, args = append(where, "format = ?"), append(args, f.Format)
	}
	if len(f.States) > 0 {
		where = append(where, "state IN ("+placeholders(len(f.States))+")")
		for _, s := range f.States {
			args = append(args, s)
		}
	}
	if f.Unbound {
		where = append(where, "mac IS NULL")
	}
	rs, err := e.q.QueryContext(ctx, keyQuery(strings.Join(where, " AND ")), args...)
	if err != nil {
		return nil, nil, err
	}
	return scanKeys(rs)
}

// KeyActive reads the active key of format with a statement prepared once
// per database: it runs at every issuance, and parsing it each time cost
// as much as running it.
func (d *DB) KeyActive(ctx context.Context, format string) ([]store.KeyRow, []byte, error) {
	stmt, err := d.activeKeyStmt(ctx)
	if err != nil {
		return nil, nil, err
	}
	rs, err := stmt.QueryContext(ctx, format)
	if err != nil {
		return nil, nil, err
	}
	return scanKeys(rs)
}

func (d *DB) activeKeyStmt(ctx context.Context) (*sql.Stmt, error) {
	if s := d.activeKey.Load(); s != nil {
		return s, nil
	}
	d.activeMu.Lock()
	defer d.activeMu.Unlock()
	if s := d.activeKey.Load(); s != nil {
		return s, nil
	}
	s, err := d.db.PrepareContext(ctx, activeKeyQuery)
	if err != nil {
		return nil, err
	}
	d.activeKey.Store(s)
	return s, nil
}

// KeyActive within a transaction.
func (e *executor) KeyActive(ctx context.Context, format string) ([]store.KeyRow, []byte, error) {
	rs, err := e.q.QueryContext(ctx, activeKeyQuery, format)
	if err != nil {
		return nil, nil, err
	}
	return scanKeys(rs)
}

func scanKeys(rs *sql.Rows) (out []store.KeyRow, seal []byte, err error) {
	defer rs.Close()
	for rs.Next() {
		var r store.KeyRow
		var times [5]sql.NullInt64
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

func unix(n sql.NullInt64) store.Unix { return store.Unix{Sec: n.Int64, Valid: n.Valid} }

func null(u store.Unix) sql.NullInt64 { return sql.NullInt64{Int64: u.Sec, Valid: u.Valid} }

func (e *executor) KeyState(ctx context.Context, kid string) (string, error) {
	var state string
	err := e.q.QueryRowContext(ctx, `SELECT state FROM keys WHERE kid = ?`, kid).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("key %q: %w", kid, store.ErrNotFound)
	}
	return state, err
}

func (e *executor) KeyInsert(ctx context.Context, r store.KeyRow) error {
	_, err := e.q.ExecContext(ctx, `INSERT INTO keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.KID, r.Format, r.Alg, r.State, r.Public, r.Private, r.Created,
		null(r.Activated), null(r.Retired), null(r.Unpublish), null(r.Removed), null(r.Compromised), r.MAC)
	return keyConflict(err, r)
}

// keyConflict turns the refusals of the keys table's unique indexes into
// errors wrapping store.ErrConflict.
func keyConflict(err error, r store.KeyRow) error {
	switch {
	case err == nil:
		return nil
	case strings.Contains(err.Error(), "UNIQUE constraint failed: keys.format"):
		return fmt.Errorf("%w: %s already has an active key", store.ErrConflict, r.Format)
	case strings.Contains(err.Error(), "UNIQUE constraint failed: keys.kid"):
		return fmt.Errorf("%w: key %q exists", store.ErrConflict, r.KID)
	}
	return err
}

func (e *executor) KeyUpdate(ctx context.Context, r store.KeyRow, from string, keepPrivate bool) error {
	res, err := e.q.ExecContext(ctx, `UPDATE keys SET state = ?1, activated_at = ?2, retired_at = ?3, unpublish_at = ?4, removed_at = ?5,
		compromised_at = ?6, mac = ?7, private_key = CASE WHEN ?10 THEN private_key END
		WHERE kid = ?8 AND state = ?9`,
		r.State, null(r.Activated), null(r.Retired), null(r.Unpublish), null(r.Removed), null(r.Compromised), r.MAC, r.KID, from, keepPrivate)
	if err != nil {
		return keyConflict(err, r)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return fmt.Errorf("%w: key %q is no longer %s", store.ErrConflict, r.KID, from)
	}
	return nil
}

func (e *executor) KeySetMAC(ctx context.Context, kid string, mac []byte) error {
	_, err := e.q.ExecContext(ctx, `UPDATE keys SET mac = ? WHERE kid = ?`, mac, kid)
	return err
}

func (e *executor) KeySetPrivate(ctx context.Context, kid string, private []byte) error {
	_, err := e.q.ExecContext(ctx, `UPDATE keys SET private_key = ? WHERE kid = ?`, private, kid)
	return err
}

func (e *executor) MetaDelete(ctx context.Context, name string) error {
	_, err := e.q.ExecContext(ctx, `DELETE FROM meta WHERE name = ?`, name)
	return err
}

func (e *executor) MetaGet(ctx context.Context, name string) ([]byte, error) {
	var value []byte
	err := e.q.QueryRowContext(ctx, `SELECT value FROM meta WHERE name = ?`, name).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("meta %q: %w", name, store.ErrNotFound)
	}
	return value, err
}

func (e *executor) MetaPut(ctx context.Context, name string, value []byte) error {
	_, err := e.q.ExecContext(ctx, `INSERT INTO meta (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	return err
}

// MetaEach leaves out the mark of a backup (restoredCopy), which is the
// engine's: a copy of the database gets its own.
func (e *executor) MetaEach(ctx context.Context, fn func(string, []byte) error) error {
	rows, err := e.q.QueryContext(ctx, `SELECT name, value FROM meta WHERE name <> '`+restoredCopy+`' ORDER BY name`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var name string
	var value sql.RawBytes
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

// placeholders returns n comma-separated question marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
