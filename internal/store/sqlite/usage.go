package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"

	"github.com/writ-dev/writ/internal/store"
)

// usageUpserts are the statements of UsageRecord: a summary, a reason, a
// day, a client and a network. In an upsert, a bare column is the row's
// value before it.
var usageUpserts = [...]string{
	`INSERT INTO usage_tokens (jti, first_use, last_use, last_client, uses, clients_overflow, alerted_at)
	VALUES (?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (jti) DO UPDATE SET
		first_use = min(first_use, excluded.first_use),
		last_client = CASE WHEN excluded.last_use >= last_use THEN excluded.last_client ELSE last_client END,
		last_use = max(last_use, excluded.last_use),
		uses = uses + excluded.uses,
		clients_overflow = clients_overflow + excluded.clients_overflow,
		alerted_at = max(alerted_at, excluded.alerted_at)`,
	`INSERT INTO usage_reasons (jti, reason, n) VALUES (?, ?, ?)
	ON CONFLICT (jti, reason) DO UPDATE SET n = n + excluded.n`,
	`INSERT INTO usage_days (jti, day, uses, refused) VALUES (?, ?, ?, ?)
	ON CONFLICT (jti, day) DO UPDATE SET uses = uses + excluded.uses, refused = refused + excluded.refused`,
	`INSERT INTO usage_clients (jti, addr, first_seen, last_seen, uses) VALUES (?, ?, ?, ?, ?)
	ON CONFLICT (jti, addr) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen),
		last_seen = max(last_seen, excluded.last_seen), uses = uses + excluded.uses`,
	`INSERT INTO usage_networks (jti, network, first_seen) VALUES (?, ?, ?)
	ON CONFLICT (jti, network) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen)`,
}

// UsageRecord prepares each upsert once for all the rows.
func (e *executor) UsageRecord(ctx context.Context, deltas []store.Usage) error {
	if len(deltas) == 0 {
		return nil
	}
	return e.inTx(ctx, func(e *executor) error {
		var st [len(usageUpserts)]*sql.Stmt
		for i, q := range usageUpserts {
			s, err := e.q.PrepareContext(ctx, q)
			if err != nil {
				return err
			}
			defer s.Close()
			st[i] = s
		}
		for _, u := range deltas {
			if _, err := st[0].ExecContext(ctx, u.JTI, u.First, u.Last, u.LastClient, u.Uses, u.ClientsOverflow, u.AlertedAt); err != nil {
				return err
			}
			for _, r := range u.Reasons {
				if _, err := st[1].ExecContext(ctx, u.JTI, r.Reason, r.N); err != nil {
					return err
				}
			}
			for _, d := range u.Days {
				if _, err := st[2].ExecContext(ctx, u.JTI, d.Day, d.Uses, d.Refused); err != nil {
					return err
				}
			}
			for _, c := range u.Clients {
				if _, err := st[3].ExecContext(ctx, u.JTI, c.Addr, c.First, c.Last, c.Uses); err != nil {
					return err
				}
			}
			for _, n := range u.Networks {
				if _, err := st[4].ExecContext(ctx, u.JTI, n.Network, n.First); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// inList is the condition that jti is among those of the JSON array bound
// to ?1: one argument, however many jtis.
const inList = `jti IN (SELECT value FROM json_each(?1))`

func (e *executor) UsageGet(ctx context.Context, jtis []string, days bool) ([]store.Usage, error) {
	if len(jtis) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(jtis)
	if err != nil {
		return nil, err
	}
	return store.ReadUsage(inList, days, func(query string, fn func(store.Row) error) error {
		return e.scanRows(ctx, query, string(list), fn)
	})
}

func (e *executor) UsageEach(ctx context.Context, fn func(*store.Usage) error) error {
	page := func(after string) ([]string, error) {
		var jtis []string
		err := e.scanRows(ctx, `SELECT jti FROM usage_tokens WHERE jti > ? ORDER BY jti LIMIT `+strconv.Itoa(store.UsagePage), after, func(rows store.Row) error {
			var jti string
			err := rows.Scan(&jti)
			jtis = append(jtis, jti)
			return err
		})
		return jtis, err
	}
	return store.EachUsage(page, func(jtis []string) ([]store.Usage, error) { return e.UsageGet(ctx, jtis, true) }, fn)
}

// usageTables are the tables of the usage summaries.
var usageTables = [...]string{"usage_reasons", "usage_days", "usage_clients", "usage_networks", "usage_tokens"}

func (e *executor) UsagePrune(ctx context.Context, dayBefore, expiredBefore int64) (int64, error) {
	var n int64
	err := e.inTx(ctx, func(e *executor) error {
		del := func(q string, arg int64) error {
			res, err := e.q.ExecContext(ctx, q, arg)
			if err != nil {
				return err
			}
			d, err := res.RowsAffected()
			n += d
			return err
		}
		if err := del(`DELETE FROM usage_days WHERE day < ?`, dayBefore); err != nil {
			return err
		}
		for _, t := range usageTables {
			if err := del(`DELETE FROM `+t+` WHERE jti IN (SELECT jti FROM tokens WHERE expires_at < ?)`, expiredBefore); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// scanRows runs query with the one argument arg and calls fn with each
// row, stopping at its first error.
func (e *executor) scanRows(ctx context.Context, query string, arg any, fn func(rows store.Row) error) error {
	rows, err := e.q.QueryContext(ctx, query, arg)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
