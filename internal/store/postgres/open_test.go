package postgres

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
)

var ctx = context.Background()

// TestOpen: a database without writ's schema is created only when asked;
// opening again keeps the schema and the epoch; another program's
// database, one from a newer writ and one that does not exist are
// refused.
func TestOpen(t *testing.T) {
	cluster := pgtest.StartCluster(t)
	url := cluster.NewDatabase(t)
	if _, err := Open(ctx, url, false); !errors.Is(err, store.ErrNoDatabase) {
		t.Fatalf("an empty database without create: %v, want ErrNoDatabase", err)
	}
	db, err := Open(ctx, url, true)
	if err != nil {
		t.Fatal(err)
	}
	_, epoch, err := db.RevocationHead(ctx)
	if err != nil || len(epoch) != 16 {
		t.Fatalf("revocation epoch %x, %v; want 16 bytes", epoch, err)
	}
	db.Close()
	db, err = Open(ctx, url, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, again, err := db.RevocationHead(ctx); err != nil || string(again) != string(epoch) {
		t.Errorf("epoch after reopening %x, %v; want %x", again, err, epoch)
	}
	if _, err := db.Pool().Exec(ctx, `UPDATE writ_schema SET version = $1`, SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(ctx, url, true); !errors.Is(err, store.ErrNewerSchema) {
		t.Errorf("a newer schema: %v, want ErrNewerSchema", err)
	}

	other := cluster.NewDatabase(t)
	conn, err := pgx.Connect(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE orders (id BIGINT)`); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if _, err := Open(ctx, other, true); !errors.Is(err, store.ErrNotWrit) {
		t.Errorf("another program's database: %v, want ErrNotWrit", err)
	}
	if _, err := Open(ctx, cluster.URL("missing"), true); !errors.Is(err, store.ErrNoDatabase) {
		t.Errorf("a database that does not exist: %v, want ErrNoDatabase", err)
	}
}

// TestWritersSerialize: write transactions of several handles (processes,
// say) read-modify-write one value without losing an update, as SQLite's
// IMMEDIATE transactions do; the revocation sequence gives every number
// once, never reused after a delete or a refused insert.
func TestWritersSerialize(t *testing.T) {
	url := pgtest.Start(t)
	var dbs []*DB
	for range 3 {
		db, err := Open(ctx, url, true)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		dbs = append(dbs, db)
	}
	const each = 20
	var wg sync.WaitGroup
	errs := make(chan error, len(dbs)*each)
	for i, db := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				errs <- func() error {
					tx, err := db.Begin(ctx)
					if err != nil {
						return err
					}
					defer tx.Rollback()
					n := 0
					if v, err := tx.MetaGet(ctx, "counter"); err == nil {
						n, _ = strconv.Atoi(string(v))
					} else if !errors.Is(err, store.ErrNotFound) {
						return err
					}
					if err := tx.MetaPut(ctx, "counter", []byte(strconv.Itoa(n+1))); err != nil {
						return err
					}
					if _, err := tx.RevocationInsert(ctx, store.RevocationRow{Kind: store.RevokeToken, Value: strconv.Itoa(i*each + j), ExpiresAt: 1}); err != nil {
						return err
					}
					return tx.Commit()
				}()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	total := len(dbs) * each
	if v, err := dbs[0].MetaGet(ctx, "counter"); err != nil || string(v) != strconv.Itoa(total) {
		t.Errorf("counter %q, %v; want %d", v, err, total)
	}
	if head, _, err := dbs[0].RevocationHead(ctx); err != nil || head != int64(total) {
		t.Errorf("RevocationHead %d, %v; want %d", head, err, total)
	}
	// A refused insert gives out no number; a deleted entry's is not reused.
	if _, err := dbs[1].RevocationInsert(ctx, store.RevocationRow{Kind: store.RevokeToken, Value: "0", ExpiresAt: 1}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second entry of a token: %v, want ErrConflict", err)
	}
	if err := dbs[1].RevocationDelete(ctx, int64(total)); err != nil {
		t.Fatal(err)
	}
	if head, _, err := dbs[2].RevocationHead(ctx); err != nil || head != int64(total) {
		t.Errorf("RevocationHead after a refused insert and a delete %d, %v; want %d", head, err, total)
	}
	if seq, err := dbs[2].RevocationInsert(ctx, store.RevocationRow{Kind: store.RevokeKey, Value: "k", ExpiresAt: 1}); err != nil || seq != int64(total)+1 {
		t.Errorf("next entry %d, %v; want %d", seq, err, total+1)
	}
}

// TestConflictKeepsTransaction: a write that a uniqueness rule refuses
// returns ErrConflict and leaves the transaction usable, as a failed
// statement does in SQLite.
func TestConflictKeepsTransaction(t *testing.T) {
	db, err := Open(ctx, pgtest.Start(t), true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	k := store.KeyRow{KID: "a", Format: "jwt", Alg: "EdDSA", State: "active", Public: []byte{1}, Private: []byte{2}, Created: 1}
	if err := db.KeyInsert(ctx, k); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := tx.KeyInsert(ctx, k); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second key a: %v, want ErrConflict", err)
	}
	b := k
	b.KID = "b"
	if err := tx.KeyInsert(ctx, b); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second active jwt key: %v, want ErrConflict", err)
	}
	b.State = "next"
	if err := tx.KeyInsert(ctx, b); err != nil {
		t.Fatal(err)
	}
	b.State = "active"
	if err := tx.KeyUpdate(ctx, b, "next", true); !errors.Is(err, store.ErrConflict) {
		t.Errorf("activating a second jwt key: %v, want ErrConflict", err)
	}
	if _, err := tx.RevocationInsert(ctx, store.RevocationRow{Kind: store.RevokeKey, Value: "a", ExpiresAt: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.RevocationInsert(ctx, store.RevocationRow{Kind: store.RevokeKey, Value: "a", ExpiresAt: 1}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second entry of key a: %v, want ErrConflict", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("commit after refused writes: %v", err)
	}
	if state, err := db.KeyState(ctx, "b"); err != nil || state != "next" {
		t.Errorf("key b %q, %v", state, err)
	}
}
