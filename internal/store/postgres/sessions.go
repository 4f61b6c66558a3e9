package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store"
)

// Sessions and links share the table console_sessions, told apart by its
// column link.

func (e *executor) SessionInsert(ctx context.Context, r store.SessionRow) error {
	return e.sessionInsert(ctx, false, r)
}

func (e *executor) SessionLinkInsert(ctx context.Context, r store.SessionRow) error {
	return e.sessionInsert(ctx, true, r)
}

func (e *executor) sessionInsert(ctx context.Context, link bool, r store.SessionRow) error {
	err := e.exec(ctx, 0, `INSERT INTO console_sessions (link, `+store.SessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		append([]any{link}, r.Values()...)...)
	if _, ok := isUnique(err); ok {
		return fmt.Errorf("%w: the session or link exists", store.ErrConflict)
	}
	return err
}

func (e *executor) SessionGet(ctx context.Context, id []byte, at int64) (store.SessionRow, error) {
	var r store.SessionRow
	err := e.q.QueryRow(ctx, `SELECT `+store.SessionColumns+` FROM console_sessions WHERE id = $1 AND NOT link AND expires_at > $2`, id, at).Scan(r.Fields()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.SessionRow{}, fmt.Errorf("session: %w", store.ErrNotFound)
	}
	return r, err
}

func (e *executor) SessionSeen(ctx context.Context, id []byte, at int64) error {
	return e.exec(ctx, 0, `UPDATE console_sessions SET seen_at = $1 WHERE id = $2 AND NOT link`, at, id)
}

func (e *executor) SessionHold(ctx context.Context, id []byte, name string, sealed []byte) error {
	var n int64
	err := e.inTx(ctx, func(e *executor) error {
		tag, err := e.q.Exec(ctx, `UPDATE console_sessions SET held_name = $1, held = $2 WHERE id = $3 AND NOT link`, name, sealed, id)
		n = tag.RowsAffected()
		return err
	})
	if err == nil && n == 0 {
		return fmt.Errorf("session: %w", store.ErrNotFound)
	}
	return err
}

// SessionTakeHeld clears the row and returns what it held in one
// statement, from the row locked: of concurrent takes, one finds it.
func (e *executor) SessionTakeHeld(ctx context.Context, id []byte, name string) ([]byte, error) {
	var held []byte
	err := e.inTx(ctx, func(e *executor) error {
		return e.writeRow(ctx, `UPDATE console_sessions s SET held_name = '', held = NULL
			FROM (SELECT id, held FROM console_sessions WHERE id = $1 AND NOT link AND held_name = $2 AND held IS NOT NULL FOR UPDATE) old
			WHERE s.id = old.id RETURNING old.held`, id, name).Scan(&held)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("session: nothing held: %w", store.ErrNotFound)
	}
	return held, err
}

func (e *executor) SessionDelete(ctx context.Context, id []byte) error {
	return e.exec(ctx, 0, `DELETE FROM console_sessions WHERE id = $1 AND NOT link`, id)
}

// SessionLinkTake deletes the row and reads it in one statement: of
// concurrent deletes of a row, one deletes it. An expired link stays until
// SessionPrune.
func (e *executor) SessionLinkTake(ctx context.Context, id []byte, at int64) (store.SessionRow, error) {
	var r store.SessionRow
	err := e.inTx(ctx, func(e *executor) error {
		return e.writeRow(ctx, `DELETE FROM console_sessions WHERE id = $1 AND link AND expires_at > $2 RETURNING `+store.SessionColumns, id, at).Scan(r.Fields()...)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return store.SessionRow{}, fmt.Errorf("sign-in link: %w", store.ErrNotFound)
	}
	return r, err
}

func (e *executor) SessionPrune(ctx context.Context, at int64) (int64, error) {
	var n int64
	err := e.inTx(ctx, func(e *executor) error {
		tag, err := e.q.Exec(ctx, `DELETE FROM console_sessions WHERE expires_at <= $1`, at)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}
