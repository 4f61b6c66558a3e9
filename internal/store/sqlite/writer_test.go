package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/writ-dev/writ/internal/store"
)

// openNew creates a database for t, closed when t ends.
func openNew(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "writ.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// onWriter runs query in a write transaction of db and commits it.
func onWriter(t *testing.T, db *DB, query string) {
	t.Helper()
	tx, err := db.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.(*Tx).sql.Exec(query); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestWritesShareOneConnection: the write transactions of a process run on
// one connection, even while reads hold others, so that its page cache
// stays warm. A temporary table, which only its connection sees, tells
// the connections apart.
func TestWritesShareOneConnection(t *testing.T) {
	ctx := context.Background()
	db := openNew(t)
	onWriter(t, db, `CREATE TEMP TABLE marker (x)`)
	var reads []store.Tx
	for range 3 { // take the pool's idle connections
		r, err := db.BeginRead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.KeyState(ctx, "none"); err == nil {
			t.Fatal("a key that does not exist has a state")
		}
		reads = append(reads, r)
	}
	defer func() {
		for _, r := range reads {
			r.Rollback()
		}
	}()
	onWriter(t, db, `INSERT INTO temp.marker VALUES (1)`)
}

// TestWriterReplacedAfterCancel: database/sql closes the connection of a
// transaction whose context ends; the next write transaction takes a new
// one instead of failing.
func TestWriterReplacedAfterCancel(t *testing.T) {
	ctx := context.Background()
	db := openNew(t)
	for range 2 {
		cctx, cancel := context.WithCancel(ctx)
		tx, err := db.Begin(cctx)
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := tx.Commit(); err == nil {
			t.Fatal("a transaction committed after its context ended")
		}
		onWriter(t, db, `DELETE FROM tokens`)
	}
}

// TestWriterReplacedWhenClosed: a writer connection that database/sql has
// closed (as it does one that the driver reports broken) is replaced by
// the next write transaction, which succeeds.
func TestWriterReplacedWhenClosed(t *testing.T) {
	db := openNew(t)
	onWriter(t, db, `DELETE FROM tokens`)
	c := <-db.writer
	if c == nil {
		t.Fatal("no writer connection after a write transaction")
	}
	c.Close()
	db.writer <- c
	onWriter(t, db, `DELETE FROM tokens`)
}
