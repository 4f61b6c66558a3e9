package postgres

import (
	"context"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store"
)

// usageUpserts are the statements of UsageRecord: a summary, a reason, a
// day, a client and a network.
var usageUpserts = [...]string{
	`INSERT INTO usage_tokens AS u (jti, first_use, last_use, last_client, uses, clients_overflow, alerted_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7)
	ON CONFLICT (jti) DO UPDATE SET
		first_use = least(u.first_use, excluded.first_use),
		last_client = CASE WHEN excluded.last_use >= u.last_use THEN excluded.last_client ELSE u.last_client END,
		last_use = greatest(u.last_use, excluded.last_use),
		uses = u.uses + excluded.uses,
		clients_overflow = u.clients_overflow + excluded.clients_overflow,
		alerted_at = greatest(u.alerted_at, excluded.alerted_at)`,
	`INSERT INTO usage_reasons AS r (jti, reason, n) VALUES ($1, $2, $3)
	ON CONFLICT (jti, reason) DO UPDATE SET n = r.n + excluded.n`,
	`INSERT INTO usage_days AS d (jti, day, uses, refused) VALUES ($1, $2, $3, $4)
	ON CONFLICT (jti, day) DO UPDATE SET uses = d.uses + excluded.uses, refused = d.refused + excluded.refused`,
	`INSERT INTO usage_clients AS c (jti, addr, first_seen, last_seen, uses) VALUES ($1, $2, $3, $4, $5)
	ON CONFLICT (jti, addr) DO UPDATE SET first_seen = least(c.first_seen, excluded.first_seen),
		last_seen = greatest(c.last_seen, excluded.last_seen), uses = c.uses + excluded.uses`,
	`INSERT INTO usage_networks AS n (jti, network, first_seen) VALUES ($1, $2, $3)
	ON CONFLICT (jti, network) DO UPDATE SET first_seen = least(n.first_seen, excluded.first_seen)`,
}

// UsageRecord sends every upsert in one batch: one round trip.
func (e *executor) UsageRecord(ctx context.Context, deltas []store.Usage) error {
	if len(deltas) == 0 {
		return nil
	}
	return e.inTx(ctx, func(e *executor) error {
		b := &pgx.Batch{}
		for _, u := range deltas {
			b.Queue(usageUpserts[0], u.JTI, u.First, u.Last, u.LastClient, u.Uses, u.ClientsOverflow, u.AlertedAt)
			for _, r := range u.Reasons {
				b.Queue(usageUpserts[1], u.JTI, r.Reason, r.N)
			}
			for _, d := range u.Days {
				b.Queue(usageUpserts[2], u.JTI, d.Day, d.Uses, d.Refused)
			}
			for _, c := range u.Clients {
				b.Queue(usageUpserts[3], u.JTI, c.Addr, c.First, c.Last, c.Uses)
			}
			for _, n := range u.Networks {
				b.Queue(usageUpserts[4], u.JTI, n.Network, n.First)
			}
		}
		return e.batch(ctx, b)
	})
}

func (e *executor) UsageGet(ctx context.Context, jtis []string, days bool) ([]store.Usage, error) {
	if len(jtis) == 0 {
		return nil, nil
	}
	return store.ReadUsage(`jti = ANY($1)`, days, func(query string, fn func(store.Row) error) error {
		return e.scanRows(ctx, query, jtis, fn)
	})
}

func (e *executor) UsageEach(ctx context.Context, fn func(*store.Usage) error) error {
	page := func(after string) ([]string, error) {
		var jtis []string
		err := e.scanRows(ctx, `SELECT jti FROM usage_tokens WHERE jti > $1 ORDER BY jti LIMIT `+strconv.Itoa(store.UsagePage), after, func(rows store.Row) error {
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
			tag, err := e.q.Exec(ctx, q, arg)
			n += tag.RowsAffected()
			return err
		}
		if err := del(`DELETE FROM usage_days WHERE day < $1`, dayBefore); err != nil {
			return err
		}
		for _, t := range usageTables {
			if err := del(`DELETE FROM `+t+` WHERE jti IN (SELECT jti FROM tokens WHERE expires_at < $1)`, expiredBefore); err != nil {
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
	rows, err := e.q.Query(ctx, query, arg)
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
