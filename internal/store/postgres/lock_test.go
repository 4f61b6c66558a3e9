package postgres

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
)

// TestSingleStatementWritesTakeTheLock: an operation called on the
// Store is a transaction of its own, and a write transaction holds the
// write lock (store.go): the single-statement writes (MetaPut, MetaDelete,
// KeySetMAC, KeySetPrivate, AuditInsert, RevocationDelete) wait for an open write transaction, as
// SQLite's do, instead of changing what it read.
func TestSingleStatementWritesTakeTheLock(t *testing.T) {
	db, err := Open(ctx, pgtest.Start(t), true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.MetaPut(ctx, "v", []byte("1")); err != nil {
		t.Fatal(err)
	}
	seq, err := db.RevocationInsert(ctx, store.RevocationRow{Kind: store.RevokeToken, Value: "j", ExpiresAt: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.KeyInsert(ctx, store.KeyRow{KID: "k", Format: "jwt", Alg: "EdDSA", State: "next", Public: []byte{1}, Created: 1}); err != nil {
		t.Fatal(err)
	}
	for name, write := range map[string]func(context.Context) error{
		"MetaPut":          func(c context.Context) error { return db.MetaPut(c, "v", []byte("2")) },
		"MetaDelete":       func(c context.Context) error { return db.MetaDelete(c, "v") },
		"KeySetMAC":        func(c context.Context) error { return db.KeySetMAC(c, "k", []byte{9}) },
		"KeySetPrivate":    func(c context.Context) error { return db.KeySetPrivate(c, "k", []byte{9}) },
		"AuditInsert":      func(c context.Context) error { return db.AuditInsert(c, store.AuditRow{Action: "x"}) },
		"RevocationDelete": func(c context.Context) error { return db.RevocationDelete(c, seq) },
	} {
		t.Run(name, func(t *testing.T) {
			tx, err := db.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			done := make(chan error, 1)
			go func() {
				// Time for the write once the writer ends, on a loaded
				// machine too (the subtests took up to 1.6 s there, 0.5 s of it
				// the wait above).
				c, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				done <- write(c)
			}()
			select {
			case err := <-done:
				t.Errorf("%s on the Store finished (%v) while another write transaction held the write lock", name, err)
				return
			case <-time.After(500 * time.Millisecond):
			}
			tx.Rollback()
			if err := <-done; err != nil {
				t.Errorf("%s after the writer ended: %v", name, err)
			}
		})
	}
}

// TestPackedEachSimpleProtocol: PackedEach hands out the chunk's bytes
// under the simple protocol too (default_query_exec_mode=simple_protocol,
// which PgBouncer's transaction pooling needs), not their text form.
func TestPackedEachSimpleProtocol(t *testing.T) {
	db, err := Open(ctx, pgtest.Start(t)+"&default_query_exec_mode=simple_protocol", true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rec := []byte{1, 2, 3, 4}
	if err := db.PackedAppend(ctx, rec, 1024); err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	if err := db.PackedEach(ctx, func(c []byte) error { got = append(got, bytes.Clone(c)); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !bytes.Equal(got[0], rec) {
		t.Errorf("PackedEach %q, want [%q]", got, rec)
	}
}

// TestBeginWaitsBounded: a writer waits for another at most BusyTimeout,
// as SQLite's writers do, then fails.
func TestBeginWaitsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 12s")
	}
	url := pgtest.Start(t)
	a, err := Open(ctx, url, true)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, url, true)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tx, err := a.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	done := make(chan error, 1)
	go func() {
		tx2, err := b.Begin(context.Background())
		if err == nil {
			tx2.Rollback()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Begin succeeded while another writer held the lock")
		}
	case <-time.After(BusyTimeout + 20*time.Second): // the lock is held all along: only a bounded wait ends
		t.Errorf("Begin still waiting for the write lock after %v (its bound is BusyTimeout, %v, as SQLite's)", BusyTimeout+20*time.Second, BusyTimeout)
		tx.Rollback()
		<-done
	}
}
