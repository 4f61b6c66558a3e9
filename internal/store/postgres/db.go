// Package postgres is writ's PostgreSQL engine: the schema and its
// migrations, every SQL statement writ runs and its transactions, through
// github.com/jackc/pgx/v5. [DB] implements [store.Store], as package
// internal/store/sqlite does for SQLite, with the same semantics.
//
// Write transactions serialize writers as SQLite's BEGIN IMMEDIATE does:
// each takes one transaction-scoped advisory lock at its start, so that
// what it reads stays true until it commits, across every process that
// shares the database. Read-only transactions are REPEATABLE READ READ
// ONLY snapshots, which do not block writers.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/writ-dev/writ/internal/store"
)

// BusyTimeout is how long a write transaction waits for another writer,
// as long as SQLite's (sqlite.BusyTimeout).
const BusyTimeout = 10 * time.Second

// writeLock is the advisory lock that every write transaction holds:
// "writ" in ASCII.
const writeLock int64 = 0x77726974

// beginWrite begins a write transaction and takes the write lock, in one
// round trip (the simple protocol runs the three statements at once).
var beginWrite = fmt.Sprintf(`BEGIN; SET LOCAL lock_timeout = %d; SELECT pg_advisory_xact_lock(%d)`, BusyTimeout.Milliseconds(), writeLock)

// DB is an open writ database. It is safe for concurrent use, and several
// processes may open one database.
type DB struct {
	executor
	pool *pgxpool.Pool

	// The watches (see Watch), which Close ends and waits for.
	mu       sync.Mutex
	closed   bool
	closing  context.Context // done once Close is called
	close    context.CancelFunc
	watchers sync.WaitGroup
}

var (
	_ store.Store   = (*DB)(nil)
	_ store.Watcher = (*DB)(nil)
	_ store.Tx      = (*Tx)(nil)
)

// Open connects to the PostgreSQL database at url (a postgres:// URL or
// a key=value connection string) and migrates writ's schema in it to the
// current version. A database without writ's schema gets it when create
// is set, and is store.ErrNoDatabase otherwise, as a database that does
// not exist is. A database that has other tables and not writ's is
// refused (store.ErrNotWrit), and one from a newer writ
// (store.ErrNewerSchema).
func Open(ctx context.Context, url string, create bool) (*DB, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	c, err := pool.Acquire(ctx)
	if err != nil {
		pool.Close()
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "3D000" { // invalid_catalog_name
			return nil, fmt.Errorf("%w: %s", store.ErrNoDatabase, pe.Message)
		}
		return nil, fmt.Errorf("open database: %w", err)
	}
	err = migrate(ctx, c.Conn(), create)
	c.Release()
	if err != nil {
		pool.Close()
		return nil, err
	}
	d := &DB{pool: pool}
	d.closing, d.close = context.WithCancel(context.Background())
	d.executor = executor{q: pool, db: d}
	return d, nil
}

// Pool returns the connection pool, for this engine's tests.
func (d *DB) Pool() *pgxpool.Pool { return d.pool }

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error { return d.pool.Ping(ctx) }

// Close closes the database, after ending its watches.
func (d *DB) Close() error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.close()
	d.watchers.Wait()
	d.pool.Close()
	return nil
}

// Backup is not supported on PostgreSQL.
func (d *DB) Backup(ctx context.Context, path string) error {
	return errors.New("backup: not supported on PostgreSQL (use pg_dump)")
}

// querier runs statements: the pool, or a transaction (txQuerier).
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Both run statements directly; txQuerier checks that its Tx may.
var (
	_ querier = (*pgxpool.Pool)(nil)
	_ querier = pgx.Tx(nil)
)

// executor implements the operations of store.Executor, on the database
// (tx nil) or within a transaction.
type executor struct {
	q  querier
	db *DB
	tx *Tx
}

// Tx is a transaction, or a transaction joined to one (see Begin).
type Tx struct {
	executor
	pg    pgx.Tx
	ctx   context.Context // Begin's, for Commit and Rollback
	state *store.TxState
}

// Begin begins a write transaction, which takes the write lock at once
// (waiting for another writer). Within a transaction, it joins it: see
// store.Executor.Begin.
func (e *executor) Begin(ctx context.Context) (store.Tx, error) {
	return e.begin(ctx, false)
}

// BeginRead begins a read-only REPEATABLE READ transaction: a snapshot
// that does not block writers. Within a transaction, it joins it.
func (e *executor) BeginRead(ctx context.Context) (store.Tx, error) {
	return e.begin(ctx, true)
}

// Now reads clock_timestamp(), the time of the call: now() is the
// transaction's start.
func (e *executor) Now(ctx context.Context) (int64, error) {
	var now int64
	err := e.q.QueryRow(ctx, `SELECT floor(extract(epoch FROM clock_timestamp()))::bigint`).Scan(&now)
	return now, err
}

func (e *executor) begin(ctx context.Context, read bool) (*Tx, error) {
	if outer := e.tx; outer != nil {
		state, err := outer.state.Join(read)
		if err != nil {
			return nil, err
		}
		t := &Tx{pg: outer.pg, ctx: outer.ctx, state: state}
		t.executor = executor{q: txQuerier{t}, db: e.db, tx: t}
		return t, nil
	}
	// A writer takes the write lock in the round trip that begins its
	// transaction, waiting for another writer as long as SQLite's do.
	opts := pgx.TxOptions{BeginQuery: beginWrite}
	if read {
		opts = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	}
	tx, err := e.db.pool.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	t := &Tx{pg: tx, ctx: context.WithoutCancel(ctx), state: store.NewTxState(read)}
	t.executor = executor{q: txQuerier{t}, db: e.db, tx: t}
	return t, nil
}

// Commit commits the transaction. A joined transaction commits with the
// one it joined: its Commit only ends it (see store.TxState).
func (t *Tx) Commit() error {
	own, err := t.state.Commit()
	switch {
	case !own:
		return err
	case err != nil:
		return errors.Join(err, t.pg.Rollback(t.ctx))
	}
	if c := t.state.Announces(); c != 0 {
		// Delivered to the listeners as the transaction commits, and
		// never if it does not.
		if _, err := t.pg.Exec(t.ctx, `SELECT pg_notify($1, $2)`, changesChannel, payload(c)); err != nil {
			return errors.Join(err, t.pg.Rollback(t.ctx))
		}
	}
	return t.pg.Commit(t.ctx)
}

// Rollback undoes the transaction; a joined transaction's undoes the one
// it joined, whose Commit then fails. After Commit or Rollback it does
// nothing.
func (t *Tx) Rollback() error {
	if t.state.Rollback() {
		return t.pg.Rollback(t.ctx)
	}
	return nil
}

// txQuerier runs statements within a transaction while it is live. Every
// write goes through Exec, batch or writeRow; a read-only transaction is
// also READ ONLY in PostgreSQL, which refuses a write that gets past this.
type txQuerier struct{ t *Tx }

// batch sends the statements of b, which write, in one round trip, and
// returns the first error.
func (e *executor) batch(ctx context.Context, b *pgx.Batch) error {
	if e.tx != nil {
		if err := e.tx.state.Live(true); err != nil {
			return err
		}
		return e.tx.pg.SendBatch(ctx, b).Close()
	}
	return e.db.pool.SendBatch(ctx, b).Close()
}

func (q txQuerier) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := q.t.state.Live(true); err != nil {
		return pgconn.CommandTag{}, err
	}
	return q.t.pg.Exec(ctx, sql, args...)
}

func (q txQuerier) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := q.t.state.Live(false); err != nil {
		return nil, err
	}
	return q.t.pg.Query(ctx, sql, args...)
}

func (q txQuerier) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := q.t.state.Live(false); err != nil {
		return errRow{err}
	}
	return q.t.pg.QueryRow(ctx, sql, args...)
}

// writeRow runs a statement that writes and returns a row (RETURNING).
func (e *executor) writeRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if e.tx != nil {
		if err := e.tx.state.Live(true); err != nil {
			return errRow{err}
		}
	}
	return e.q.QueryRow(ctx, sql, args...)
}

// errRow is a row that is an error.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// inTx runs fn within the transaction, or in one of its own (holding the
// write lock) committed when fn succeeds: an operation of several
// statements called on the database is a transaction of its own.
func (e *executor) inTx(ctx context.Context, fn func(e *executor) error) error {
	if e.tx != nil {
		return fn(e)
	}
	tx, err := e.begin(ctx, false)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(&tx.executor); err != nil {
		return err
	}
	return tx.Commit()
}

// exec runs one statement that writes, under the write lock: within the
// transaction, or in one of its own, as every write on a Store is. The
// transaction announces c as it commits (0: nothing).
func (e *executor) exec(ctx context.Context, c store.Change, query string, args ...any) error {
	return e.inTx(ctx, func(e *executor) error {
		if _, err := e.q.Exec(ctx, query, args...); err != nil {
			return err
		}
		e.changed(c)
		return nil
	})
}

// changed records, within inTx, that the transaction changed c.
func (e *executor) changed(c store.Change) { e.tx.state.Changed(c) }

// isUnique reports whether err is PostgreSQL refusing a write by a unique
// index, and which.
func isUnique(err error) (constraint string, ok bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return pe.ConstraintName, true
	}
	return "", false
}
