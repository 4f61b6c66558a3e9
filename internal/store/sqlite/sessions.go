package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

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
	_, err := e.q.ExecContext(ctx, `INSERT INTO console_sessions (link, `+store.SessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		append([]any{link}, r.Values()...)...)
	if err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed: console_sessions.id") {
		return fmt.Errorf("%w: the session or link exists", store.ErrConflict)
	}
	return err
}

// sessionGet reads the session or link id, unexpired at at.
func (e *executor) sessionGet(ctx context.Context, link bool, id []byte, at int64) (store.SessionRow, error) {
	var r store.SessionRow
	err := e.q.QueryRowContext(ctx, `SELECT `+store.SessionColumns+` FROM console_sessions WHERE id = ? AND link = ? AND expires_at > ?`, id, link, at).Scan(r.Fields()...)
	if errors.Is(err, sql.ErrNoRows) {
		return store.SessionRow{}, fmt.Errorf("session: %w", store.ErrNotFound)
	}
	return r, err
}

func (e *executor) SessionGet(ctx context.Context, id []byte, at int64) (store.SessionRow, error) {
	return e.sessionGet(ctx, false, id, at)
}

func (e *executor) SessionSeen(ctx context.Context, id []byte, at int64) error {
	_, err := e.q.ExecContext(ctx, `UPDATE console_sessions SET seen_at = ? WHERE id = ? AND NOT link`, at, id)
	return err
}

func (e *executor) SessionHold(ctx context.Context, id []byte, name string, sealed []byte) error {
	res, err := e.q.ExecContext(ctx, `UPDATE console_sessions SET held_name = ?, held = ? WHERE id = ? AND NOT link`, name, sealed, id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("session: %w", store.ErrNotFound)
	}
	return nil
}

// SessionTakeHeld reads and clears in one write transaction, which
// SQLite's single writer runs one at a time.
func (e *executor) SessionTakeHeld(ctx context.Context, id []byte, name string) ([]byte, error) {
	var held []byte
	err := e.inTx(ctx, func(e *executor) error {
		err := e.q.QueryRowContext(ctx, `SELECT held FROM console_sessions WHERE id = ? AND NOT link AND held_name = ? AND held IS NOT NULL`, id, name).Scan(&held)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("session: nothing held: %w", store.ErrNotFound)
		} else if err != nil {
			return err
		}
		_, err = e.q.ExecContext(ctx, `UPDATE console_sessions SET held_name = '', held = NULL WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return held, nil
}

func (e *executor) SessionDelete(ctx context.Context, id []byte) error {
	_, err := e.q.ExecContext(ctx, `DELETE FROM console_sessions WHERE id = ? AND NOT link`, id)
	return err
}

// SessionLinkTake reads and deletes the row in one write transaction,
// which SQLite's single writer runs one at a time. An expired link stays
// until SessionPrune.
func (e *executor) SessionLinkTake(ctx context.Context, id []byte, at int64) (store.SessionRow, error) {
	var r store.SessionRow
	err := e.inTx(ctx, func(e *executor) error {
		var err error
		if r, err = e.sessionGet(ctx, true, id, at); err != nil {
			return err
		}
		_, err = e.q.ExecContext(ctx, `DELETE FROM console_sessions WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return store.SessionRow{}, err
	}
	return r, nil
}

func (e *executor) SessionPrune(ctx context.Context, at int64) (int64, error) {
	res, err := e.q.ExecContext(ctx, `DELETE FROM console_sessions WHERE expires_at <= ?`, at)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
