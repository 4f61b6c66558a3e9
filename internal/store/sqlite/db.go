package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/writ-dev/writ/internal/store"
)

// DB is an open writ database. It is safe for concurrent use, and several
// processes may open one database.
type DB struct {
	executor
	db *sql.DB

	activeMu  sync.Mutex
	activeKey atomic.Pointer[sql.Stmt] // KeyActive's statement, prepared once
}

var (
	_ store.Store = (*DB)(nil)
	_ store.Tx    = (*Tx)(nil)
)

func newDB(db *sql.DB) *DB {
	d := &DB{db: db}
	d.executor = executor{q: dbQuerier{db}, db: d}
	return d
}

// Handle returns the database/sql handle, for this engine's test helpers
// (package sqlitetest).
func (d *DB) Handle() *sql.DB { return d.db }

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error { return d.db.PingContext(ctx) }

// Close closes the database.
func (d *DB) Close() error {
	var err error
	if s := d.activeKey.Load(); s != nil {
		err = s.Close()
	}
	return errors.Join(err, d.db.Close())
}

// querier runs statements: the database, or a transaction (txQuerier).
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) scanner
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// scanner is a row of QueryRowContext.
type scanner interface{ Scan(dest ...any) error }

// dbQuerier runs statements on the database, each in a transaction of its
// own.
type dbQuerier struct{ *sql.DB }

func (q dbQuerier) QueryRowContext(ctx context.Context, query string, args ...any) scanner {
	return q.DB.QueryRowContext(ctx, query, args...)
}

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
	sql    *sql.Tx
	outer  *Tx  // the transaction a joined one belongs to; nil for one's own
	read   bool // read-only: writes and Begin are refused
	done   bool
	doomed bool // a joined transaction rolled back: Commit must not commit
}

var (
	// errReadOnly is returned for a write within BeginRead's transaction.
	errReadOnly = errors.New("sqlite: a write within a read-only transaction")
	// errDoomed is returned within a transaction, and by its Commit, once
	// a transaction joined to it rolled back.
	errDoomed = errors.New("sqlite: the transaction was rolled back by a transaction joined to it")
)

// Begin begins a write transaction, which takes the write lock at once
// (BEGIN IMMEDIATE, waiting up to BusyTimeout for another writer). Within
// a transaction, it joins it: see store.Executor.Begin.
func (e *executor) Begin(ctx context.Context) (store.Tx, error) {
	return e.begin(ctx, false)
}

// BeginRead begins a read-only transaction: in WAL mode, a snapshot that
// does not block writers. Within a transaction, it joins it.
func (e *executor) BeginRead(ctx context.Context) (store.Tx, error) {
	return e.begin(ctx, true)
}

func (e *executor) begin(ctx context.Context, read bool) (store.Tx, error) {
	if outer := e.tx; outer != nil {
		if err := outer.live(!read); err != nil {
			return nil, err
		}
		t := &Tx{sql: outer.sql, outer: outer.root(), read: outer.read || read}
		t.executor = executor{q: txQuerier{t}, db: e.db, tx: t}
		return t, nil
	}
	tx, err := e.db.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: read})
	if err != nil {
		return nil, err
	}
	t := &Tx{sql: tx, read: read}
	t.executor = executor{q: txQuerier{t}, db: e.db, tx: t}
	return t, nil
}

// root is the transaction of its own that t is or belongs to.
func (t *Tx) root() *Tx {
	if t.outer != nil {
		return t.outer
	}
	return t
}

// live returns an error unless t may run a statement, one that writes if
// write is set.
func (t *Tx) live(write bool) error {
	switch root := t.root(); {
	case t.done || root.done:
		return sql.ErrTxDone
	case root.doomed:
		return errDoomed
	case write && t.read:
		return errReadOnly
	}
	return nil
}

// Commit commits the transaction. A joined transaction commits with the
// one it joined: its Commit only ends it.
func (t *Tx) Commit() error {
	if t.done {
		return sql.ErrTxDone
	}
	t.done = true
	switch {
	case t.outer != nil:
		return t.outer.live(false)
	case t.doomed:
		return errors.Join(errDoomed, t.sql.Rollback())
	}
	return t.sql.Commit()
}

// Rollback undoes the transaction; a joined transaction's undoes the one
// it joined, whose Commit then fails. After Commit or Rollback it does
// nothing.
func (t *Tx) Rollback() error {
	if t.done {
		return nil
	}
	t.done = true
	if t.outer != nil {
		t.outer.doomed = true
		return nil
	}
	return t.sql.Rollback()
}

// txQuerier runs statements within a transaction while it is live. Every
// write goes through ExecContext or PrepareContext.
type txQuerier struct{ t *Tx }

func (q txQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := q.t.live(true); err != nil {
		return nil, err
	}
	return q.t.sql.ExecContext(ctx, query, args...)
}

func (q txQuerier) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	if err := q.t.live(true); err != nil {
		return nil, err
	}
	return q.t.sql.PrepareContext(ctx, query)
}

func (q txQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := q.t.live(false); err != nil {
		return nil, err
	}
	return q.t.sql.QueryContext(ctx, query, args...)
}

func (q txQuerier) QueryRowContext(ctx context.Context, query string, args ...any) scanner {
	if err := q.t.live(false); err != nil {
		return errRow{err}
	}
	return q.t.sql.QueryRowContext(ctx, query, args...)
}

// errRow is a row that is an error.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// inTx runs fn within the transaction, or in one of its own committed
// when fn succeeds: an operation of several statements called on the
// database is a transaction of its own.
func (e *executor) inTx(ctx context.Context, fn func(e *executor) error) error {
	if e.tx != nil {
		return fn(e)
	}
	tx, err := e.begin(ctx, false)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(&tx.(*Tx).executor); err != nil {
		return err
	}
	return tx.Commit()
}
