package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
	d.executor = executor{q: db, db: d}
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

// querier runs statements: a *sql.DB or a *sql.Tx.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// executor implements the operations of store.Executor, on the database
// (tx nil) or within a transaction.
type executor struct {
	q  querier
	db *DB
	tx *sql.Tx
	// savepoints counts the subtransactions of tx, for their names.
	savepoints *int
}

// Tx is a transaction, or a subtransaction (a savepoint) of one.
type Tx struct {
	executor
	savepoint string // empty for a transaction
	done      bool
	n         int // a transaction's count of savepoints
}

// Begin begins a write transaction, which takes the write lock at once
// (BEGIN IMMEDIATE, waiting up to BusyTimeout for another writer); within
// a transaction, a savepoint.
func (e *executor) Begin(ctx context.Context) (store.Tx, error) {
	return e.begin(ctx, nil)
}

// BeginRead begins a read-only transaction: in WAL mode, a snapshot that
// does not block writers. Within a transaction, a savepoint.
func (e *executor) BeginRead(ctx context.Context) (store.Tx, error) {
	return e.begin(ctx, &sql.TxOptions{ReadOnly: true})
}

func (e *executor) begin(ctx context.Context, opts *sql.TxOptions) (store.Tx, error) {
	if e.tx != nil {
		*e.savepoints++
		name := fmt.Sprintf("s%d", *e.savepoints)
		if _, err := e.tx.ExecContext(ctx, "SAVEPOINT "+name); err != nil {
			return nil, err
		}
		return &Tx{executor: *e, savepoint: name}, nil
	}
	tx, err := e.db.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	t := &Tx{executor: executor{q: tx, db: e.db, tx: tx}}
	t.savepoints = &t.n
	return t, nil
}

// Commit commits the transaction, or releases the savepoint into its
// transaction.
func (t *Tx) Commit() error {
	if t.done {
		return sql.ErrTxDone
	}
	t.done = true
	if t.savepoint != "" {
		_, err := t.tx.ExecContext(context.Background(), "RELEASE "+t.savepoint)
		return err
	}
	return t.tx.Commit()
}

// Rollback undoes the transaction, or what was done since the savepoint.
// After Commit or Rollback it does nothing.
func (t *Tx) Rollback() error {
	if t.done {
		return nil
	}
	t.done = true
	if t.savepoint != "" {
		_, err := t.tx.ExecContext(context.Background(), "ROLLBACK TO "+t.savepoint+"; RELEASE "+t.savepoint)
		return err
	}
	return t.tx.Rollback()
}

// inTx runs fn within the transaction, or in one of its own committed
// when fn succeeds: an operation of several statements called on the
// database is a transaction of its own.
func (e *executor) inTx(ctx context.Context, fn func(e *executor) error) error {
	if e.tx != nil {
		return fn(e)
	}
	tx, err := e.begin(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(&tx.(*Tx).executor); err != nil {
		return err
	}
	return tx.Commit()
}
