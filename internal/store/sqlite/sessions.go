package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/writ-dev/writ/internal/store"
)

func (e *executor) SessionInsert(ctx context.Context, r store.SessionRow) error {
	return e.sessionInsert(ctx, "console_sessions", r)
}

func (e *executor) SessionLinkInsert(ctx context.Context, r store.SessionRow) error {
	return e.sessionInsert(ctx, "console_links", r)
}

func (e *executor) sessionInsert(ctx context.Context, table string, r store.SessionRow) error {
	_, err := e.q.ExecContext(ctx, `INSERT INTO `+table+` (`+store.SessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.Values()...)
	if err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed: "+table+".id") {
		return fmt.Errorf("%w: the %s exists", store.ErrConflict, table)
	}
	return err
}

func (e *executor) SessionGet(ctx context.Context, id []byte, at int64) (store.SessionRow, error) {
	var r store.SessionRow
	err := e.q.QueryRowContext(ctx, `SELECT `+store.SessionColumns+` FROM console_sessions WHERE id = ? AND expires_at > ?`, id, at).Scan(r.Fields()...)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("session: %w", store.ErrNotFound)
	}
	return r, err
}

func (e *executor) SessionDelete(ctx context.Context, id []byte) error {
	_, err := e.q.ExecContext(ctx, `DELETE FROM console_sessions WHERE id = ?`, id)
	return err
}

// SessionLinkTake reads and deletes the row in one write transaction,
// which SQLite's single writer runs one at a time.
func (e *executor) SessionLinkTake(ctx context.Context, id []byte, at int64) (store.SessionRow, error) {
	var r store.SessionRow
	err := e.inTx(ctx, func(e *executor) error {
		err := e.q.QueryRowContext(ctx, `SELECT `+store.SessionColumns+` FROM console_links WHERE id = ?`, id).Scan(r.Fields()...)
		switch {
		case errors.Is(err, sql.ErrNoRows) || err == nil && r.ExpiresAt <= at:
			// An expired link stays until SessionPrune.
			return fmt.Errorf("sign-in link: %w", store.ErrNotFound)
		case err != nil:
			return err
		}
		_, err = e.q.ExecContext(ctx, `DELETE FROM console_links WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return store.SessionRow{}, err
	}
	return r, nil
}

func (e *executor) SessionPrune(ctx context.Context, at int64) (int64, error) {
	var n int64
	err := e.inTx(ctx, func(e *executor) error {
		for _, table := range []string{"console_sessions", "console_links"} {
			res, err := e.q.ExecContext(ctx, `DELETE FROM `+table+` WHERE expires_at <= ?`, at)
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += k
		}
		return nil
	})
	return n, err
}
