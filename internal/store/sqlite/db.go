package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

// DB is an open writ database. It is safe for concurrent use, and several
// processes may open one database.
type DB struct {
	executor
	db *sql.DB

	activeMu  sync.Mutex
	activeKey atomic.Pointer[sql.Stmt] // KeyActive's statement, prepared once

	// writer holds the connection of this process's write transactions
	// while none runs (nil before the first), and is empty while one runs:
	// see Begin.
	writer chan *sql.Conn
}

var (
	_ store.Store = (*DB)(nil)
	_ store.Tx    = (*Tx)(nil)
)

func newDB(db *sql.DB) *DB {
	d := &DB{db: db, writer: make(chan *sql.Conn, 1)}
	d.writer <- nil
	d.executor = executor{q: dbQuerier{db}, db: d}
	return d
}

// Handle returns the database/sql handle, for this engine's test helpers
// (package sqlitetest).
func (d *DB) Handle() *sql.DB { return d.db }

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error { return d.db.PingContext(ctx) }

// Close closes the database. Transactions must have ended.
func (d *DB) Close() error {
	var err error
	if s := d.activeKey.Load(); s != nil {
		err = s.Close()
	}
	select {
	case c := <-d.writer:
		if c != nil {
			err = errors.Join(err, c.Close())
		}
	default:
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
	sql   *sql.Tx
	state *store.TxState
	conn  *sql.Conn // a write transaction's connection, handed back at its end
}

// Begin begins a write transaction, which takes the write lock at once
// (BEGIN IMMEDIATE, waiting up to BusyTimeout for another writer). Within
// a transaction, it joins it: see store.Executor.Begin.
//
// The write transactions of a process take turns on one connection: they
// queue in memory rather than in SQLite's busy handler, whose sleeps grow
// to 100 ms, and they find that connection's page cache warm. (SQLite
// drops a connection's cache when another connection has written, which,
// with write transactions spread over the pool, was every time: reading
// the pages again was a third of an insert's work.) Other processes still
// queue in the busy handler.
func (e *executor) Begin(ctx context.Context) (store.Tx, error) {
	return e.begin(ctx, false)
}

// BeginRead begins a read-only transaction: in WAL mode, a snapshot that
// does not block writers. Within a transaction, it joins it.
func (e *executor) BeginRead(ctx context.Context) (store.Tx, error) {
	return e.begin(ctx, true)
}

// Now reads the process's clock, which is SQLite's, without a statement
// (one costs twenty allocations per group commit); a Tx that has ended
// refuses it as it refuses a statement.
func (e *executor) Now(context.Context) (int64, error) {
	if e.tx != nil {
		if err := e.tx.state.Live(false); err != nil {
			return 0, err
		}
	}
	return time.Now().Unix(), nil
}

func (e *executor) begin(ctx context.Context, read bool) (store.Tx, error) {
	if outer := e.tx; outer != nil {
		state, err := outer.state.Join(read)
		if err != nil {
			return nil, err
		}
		t := &Tx{sql: outer.sql, state: state}
		t.executor = executor{q: txQuerier{t}, db: e.db, tx: t}
		return t, nil
	}
	if !read {
		return e.db.beginWrite(ctx)
	}
	tx, err := e.db.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	t := &Tx{sql: tx, state: store.NewTxState(true)}
	t.executor = executor{q: txQuerier{t}, db: e.db, tx: t}
	return t, nil
}

// beginWrite begins a write transaction on the writer connection, waiting
// up to BusyTimeout for the process's other write transaction to end.
func (d *DB) beginWrite(ctx context.Context) (*Tx, error) {
	conn, err := d.takeWriter(ctx)
	if err != nil {
		return nil, err
	}
	// database/sql closes a connection whose transaction's context ended:
	// then a new one replaces it.
	if conn != nil {
		tx, err := conn.BeginTx(ctx, nil)
		switch {
		case err == nil:
			return d.writeTx(tx, conn), nil
		case !errors.Is(err, sql.ErrConnDone) && !errors.Is(err, driver.ErrBadConn):
			d.writer <- conn
			return nil, err
		}
		conn.Close()
	}
	if conn, err = d.db.Conn(ctx); err != nil {
		d.writer <- nil
		return nil, err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		d.writer <- conn
		return nil, err
	}
	return d.writeTx(tx, conn), nil
}

// takeWriter waits up to BusyTimeout for the process's other write
// transaction to end, and returns the writer connection, nil if there is
// none yet. The caller hands it back to d.writer.
func (d *DB) takeWriter(ctx context.Context) (*sql.Conn, error) {
	wait := time.NewTimer(BusyTimeout)
	defer wait.Stop()
	select {
	case conn := <-d.writer:
		return conn, nil
	case <-wait.C:
		return nil, fmt.Errorf("another write transaction of this process ran for %v: %w", BusyTimeout, errWriterBusy)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// ExecOnWriter runs query, outside any transaction, on the connection of
// the process's write transactions, for this engine's test helpers
// (package sqlitetest): a PRAGMA that the writes must see.
func (d *DB) ExecOnWriter(ctx context.Context, query string) error {
	conn, err := d.takeWriter(ctx)
	if err != nil {
		return err
	}
	if conn == nil {
		if conn, err = d.db.Conn(ctx); err != nil {
			d.writer <- nil
			return err
		}
	}
	_, err = conn.ExecContext(ctx, query)
	d.writer <- conn
	return err
}

// writeTx is the write transaction tx on the writer connection conn.
func (d *DB) writeTx(tx *sql.Tx, conn *sql.Conn) *Tx {
	t := &Tx{sql: tx, state: store.NewTxState(false), conn: conn}
	t.executor = executor{q: txQuerier{t}, db: d, tx: t}
	return t
}

// errWriterBusy is SQLite's SQLITE_BUSY, for a write transaction that
// waited in this process.
var errWriterBusy = errors.New("database is locked")

// release hands the writer connection to the next write transaction, once
// the transaction that had it has ended with err.
func (t *Tx) release(err error) error {
	if t.conn == nil {
		return err
	}
	conn := t.conn
	t.conn = nil
	if err != nil {
		// An error from COMMIT or ROLLBACK may leave the connection in a
		// transaction, and ErrTxDone says that database/sql ended it for
		// its context, rolling it back and discarding the connection in
		// a goroutine of its own, maybe not yet done: either way the next
		// writer takes a new one.
		conn.Close()
		conn = nil
	}
	t.db.writer <- conn
	return err
}

// Commit commits the transaction. A joined transaction commits with the
// one it joined: its Commit only ends it (see store.TxState).
func (t *Tx) Commit() error {
	own, err := t.state.Commit()
	switch {
	case !own:
		return err
	case err != nil:
		return errors.Join(err, t.release(t.sql.Rollback()))
	}
	return t.release(t.sql.Commit())
}

// Rollback undoes the transaction; a joined transaction's undoes the one
// it joined, whose Commit then fails. After Commit or Rollback it does
// nothing.
func (t *Tx) Rollback() error {
	if t.state.Rollback() {
		return t.release(t.sql.Rollback())
	}
	return nil
}

// txQuerier runs statements within a transaction while it is live. Every
// write goes through ExecContext or PrepareContext.
type txQuerier struct{ t *Tx }

func (q txQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := q.t.state.Live(true); err != nil {
		return nil, err
	}
	return q.t.sql.ExecContext(ctx, query, args...)
}

func (q txQuerier) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	if err := q.t.state.Live(true); err != nil {
		return nil, err
	}
	return q.t.sql.PrepareContext(ctx, query)
}

func (q txQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := q.t.state.Live(false); err != nil {
		return nil, err
	}
	return q.t.sql.QueryContext(ctx, query, args...)
}

func (q txQuerier) QueryRowContext(ctx context.Context, query string, args ...any) scanner {
	if err := q.t.state.Live(false); err != nil {
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
