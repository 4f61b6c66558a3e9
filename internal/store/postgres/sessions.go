package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store"
)

func (e *executor) SessionInsert(ctx context.Context, r store.SessionRow) error {
	return e.sessionInsert(ctx, "console_sessions", r)
}

func (e *executor) SessionLinkInsert(ctx context.Context, r store.SessionRow) error {
	return e.sessionInsert(ctx, "console_links", r)
}

func (e *executor) sessionInsert(ctx context.Context, table string, r store.SessionRow) error {
	err := e.exec(ctx, 0, `INSERT INTO `+table+` (`+store.SessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, r.Values()...)
	if _, ok := isUnique(err); ok {
		return fmt.Errorf("%w: the %s exists", store.ErrConflict, table)
	}
	return err
}

func (e *executor) SessionGet(ctx context.Context, id []byte, at int64) (store.SessionRow, error) {
	var r store.SessionRow
	err := e.q.QueryRow(ctx, `SELECT `+store.SessionColumns+` FROM console_sessions WHERE id = $1 AND expires_at > $2`, id, at).Scan(r.Fields()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("session: %w", store.ErrNotFound)
	}
	return r, err
}

func (e *executor) SessionDelete(ctx context.Context, id []byte) error {
	return e.exec(ctx, 0, `DELETE FROM console_sessions WHERE id = $1`, id)
}

// SessionLinkTake deletes the row and reads it in one statement: of
// concurrent deletes of a row, one deletes it.
func (e *executor) SessionLinkTake(ctx context.Context, id []byte, at int64) (store.SessionRow, error) {
	var r store.SessionRow
	err := e.inTx(ctx, func(e *executor) error {
		return e.writeRow(ctx, `DELETE FROM console_links WHERE id = $1 AND expires_at > $2 RETURNING `+store.SessionColumns, id, at).Scan(r.Fields()...)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return store.SessionRow{}, fmt.Errorf("sign-in link: %w", store.ErrNotFound)
	}
	return r, err
}

func (e *executor) SessionPrune(ctx context.Context, at int64) (int64, error) {
	var n int64
	err := e.inTx(ctx, func(e *executor) error {
		for _, table := range []string{"console_sessions", "console_links"} {
			tag, err := e.q.Exec(ctx, `DELETE FROM `+table+` WHERE expires_at <= $1`, at)
			if err != nil {
				return err
			}
			n += tag.RowsAffected()
		}
		return nil
	})
	return n, err
}
