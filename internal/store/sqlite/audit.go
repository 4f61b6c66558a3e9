package sqlite

import (
	"context"

	"github.com/writ-dev/writ/internal/store"
)

const insertEvent = `INSERT INTO audit (at, actor, action, subject, jti, kid, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`

// eventValues are e's columns for insertEvent.
func eventValues(e store.AuditRow) []any {
	if e.Actor == "" {
		e.Actor = "unknown"
	}
	return []any{e.At, e.Actor, e.Action, e.Subject, e.JTI, e.KID, e.Detail}
}

func (e *executor) AuditInsert(ctx context.Context, ev store.AuditRow) error {
	_, err := e.q.ExecContext(ctx, insertEvent, eventValues(ev)...)
	return err
}

func (e *executor) AuditList(ctx context.Context, f store.AuditFilter) ([]store.AuditRow, error) {
	q := `SELECT id, at, actor, action, subject, jti, kid, detail FROM audit WHERE at >= ?`
	args := []any{f.Since}
	if f.Subject != "" {
		q += ` AND subject = ?`
		args = append(args, f.Subject)
	}
	if f.JTI != "" {
		q += ` AND jti = ?`
		args = append(args, f.JTI)
	}
	if f.Before != 0 {
		q += ` AND id < ?`
		args = append(args, f.Before)
	}
	// The newest Limit events, shown oldest first.
	q = `SELECT * FROM (` + q + ` ORDER BY id DESC LIMIT ?) ORDER BY id`
	rows, err := e.q.QueryContext(ctx, q, append(args, f.Limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.AuditRow
	for rows.Next() {
		var ev store.AuditRow
		if err := rows.Scan(&ev.ID, &ev.At, &ev.Actor, &ev.Action, &ev.Subject, &ev.JTI, &ev.KID, &ev.Detail); err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

func (e *executor) AuditEach(ctx context.Context, fn func(*store.AuditRow) error) error {
	rows, err := e.q.QueryContext(ctx, `SELECT id, at, actor, action, subject, jti, kid, detail FROM audit ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var ev store.AuditRow
	for rows.Next() {
		if err := rows.Scan(&ev.ID, &ev.At, &ev.Actor, &ev.Action, &ev.Subject, &ev.JTI, &ev.KID, &ev.Detail); err != nil {
			return err
		}
		if err := fn(&ev); err != nil {
			return err
		}
	}
	return rows.Err()
}
