package postgres

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
)

// openTwice opens the database at url twice, as two replicas do.
func openTwice(t *testing.T, url string) (a, b *DB) {
	t.Helper()
	var dbs [2]*DB
	for i := range dbs {
		db, err := Open(ctx, url, true)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	return dbs[0], dbs[1]
}

// announcements listens on the changes channel as a replica would, to
// tell which operations announce what.
type announcements struct {
	t    *testing.T
	conn *pgx.Conn
	db   *DB
}

// fenceChannel is notified after each operation under test: PostgreSQL
// delivers notifications in the order their transactions committed, so
// what the operation announced arrives before the fence, or never.
const fenceChannel = "writ_test_fence"

func listenTo(t *testing.T, url string, db *DB) *announcements {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	for _, ch := range []string{changesChannel, fenceChannel} {
		if _, err := conn.Exec(ctx, `LISTEN `+ch); err != nil {
			t.Fatal(err)
		}
	}
	return &announcements{t: t, conn: conn, db: db}
}

// since returns the payloads announced since the last call.
func (a *announcements) since() []string {
	a.t.Helper()
	if _, err := a.db.Pool().Exec(ctx, `NOTIFY `+fenceChannel); err != nil {
		a.t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var got []string
	for {
		n, err := a.conn.WaitForNotification(wctx)
		if err != nil {
			a.t.Fatal(err)
		}
		if n.Channel == fenceChannel {
			return got
		}
		got = append(got, n.Payload)
	}
}

// TestAnnouncedOnCommit: a transaction that changed keys, key meta or
// revocations announces it once, as it commits; one that rolls back, and
// token inserts and audit events, announce nothing.
func TestAnnouncedOnCommit(t *testing.T) {
	url := pgtest.Start(t)
	db, _ := openTwice(t, url)
	l := listenTo(t, url, db)
	key := store.KeyRow{KID: "k", Format: "jwt", Alg: "EdDSA", State: "next", Public: []byte{1}, Created: 1}
	inTx := func(fn func(tx store.Tx) error) func() error {
		return func() error {
			tx, err := db.Begin(ctx)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			if err := fn(tx); err != nil {
				return err
			}
			return tx.Commit()
		}
	}
	revoke := func(x store.Executor, jti string) error {
		_, err := x.RevocationInsert(ctx, store.RevocationRow{Kind: store.RevokeToken, Value: jti, ExpiresAt: 1})
		return err
	}
	for _, c := range []struct {
		name string
		op   func() error
		want []string
	}{
		{"RevocationInsert", func() error { return revoke(db, "j1") }, []string{"revocations"}},
		{"RevocationDelete", func() error { return db.RevocationDelete(ctx, 1) }, []string{"revocations"}},
		{"RevocationPrune", func() error {
			if err := revoke(db, "j2"); err != nil {
				return err
			}
			l.since()
			_, _, err := db.RevocationPrune(ctx, 2)
			return err
		}, []string{"revocations"}},
		{"RevocationPrune of nothing", func() error { _, _, err := db.RevocationPrune(ctx, 2); return err }, nil},
		{"KeyInsert", func() error { return db.KeyInsert(ctx, key) }, []string{"keys"}},
		{"KeyUpdate", func() error {
			r := key
			r.State = "active"
			return db.KeyUpdate(ctx, r, "next", true)
		}, []string{"keys"}},
		{"KeySetMAC", func() error { return db.KeySetMAC(ctx, "k", []byte{7}) }, []string{"keys"}},
		{"KeySetPrivate", func() error { return db.KeySetPrivate(ctx, "k", []byte{7}) }, []string{"keys"}},
		{"MetaDelete successor", func() error { return db.MetaDelete(ctx, store.MetaMasterKeySuccessor) }, []string{"keys"}},
		{"MetaDelete epoch", func() error { return db.MetaDelete(ctx, store.MetaRevocationEpoch) }, []string{"revocations"}},
		{"MetaPut seal", func() error { return db.MetaPut(ctx, store.MetaKeySeal, []byte{1}) }, []string{"keys"}},
		{"MetaPut epoch", func() error { return db.MetaPut(ctx, store.MetaRevocationEpoch, []byte{1}) }, []string{"revocations"}},
		{"one transaction, both, once", inTx(func(tx store.Tx) error {
			if err := revoke(tx, "j3"); err != nil {
				return err
			}
			if err := revoke(tx, "j4"); err != nil {
				return err
			}
			return tx.MetaPut(ctx, store.MetaPublicationLag, []byte{1})
		}), []string{"keys revocations"}},
		{"joined transaction, with the one it joined", inTx(func(tx store.Tx) error {
			inner, err := tx.Begin(ctx)
			if err != nil {
				return err
			}
			if err := revoke(inner, "j5"); err != nil {
				return err
			}
			return inner.Commit()
		}), []string{"revocations"}},
		{"rolled back", func() error {
			tx, err := db.Begin(ctx)
			if err != nil {
				return err
			}
			if err := revoke(tx, "j6"); err != nil {
				return err
			}
			return tx.Rollback()
		}, nil},
		{"rolled back by a joined transaction", func() error {
			tx, err := db.Begin(ctx)
			if err != nil {
				return err
			}
			inner, err := tx.Begin(ctx)
			if err != nil {
				return err
			}
			if err := revoke(inner, "j7"); err != nil {
				return err
			}
			inner.Rollback()
			if err := tx.Commit(); err == nil {
				t.Error("a doomed transaction committed")
			}
			return nil
		}, nil},
		{"TokenInsertMany", func() error {
			return db.TokenInsertMany(ctx, []store.TokenRow{{JTI: "t1", Format: "jwt", KID: "k", Subject: "s", IssuedAt: 1, ExpiresAt: 2}},
				[]store.AuditRow{{Action: "token.issue"}})
		}, nil},
		{"AuditInsert", func() error { return db.AuditInsert(ctx, store.AuditRow{Action: "x"}) }, nil},
		{"KeyUpdate refused", inTx(func(tx store.Tx) error {
			// A conflict leaves the transaction usable; what it refused
			// changed nothing.
			r := key
			r.State = "retired"
			if err := tx.KeyUpdate(ctx, r, "next", true); err == nil {
				t.Error("KeyUpdate from a state the key is not in succeeded")
			}
			return nil
		}), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			l.since()
			if err := c.op(); err != nil {
				t.Fatal(err)
			}
			if got := l.since(); !slices.Equal(got, c.want) {
				t.Errorf("announced %q, want %q", got, c.want)
			}
		})
	}
}

// receive waits for a value on ch, failing the test if none comes or ch
// is closed.
func receive(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatalf("%s: the channel closed", what)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: nothing announced", what)
	}
}

// TestWatch: a handle's watch announces what another handle commits,
// connects again when its connection is killed and then announces every
// concern, and ends when its context does or the handle closes.
func TestWatch(t *testing.T) {
	url := pgtest.Start(t)
	a, b := openTwice(t, url)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	changes, err := a.Watch(wctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.RevocationInsert(ctx, store.RevocationRow{Kind: store.RevokeToken, Value: "j1", ExpiresAt: 1}); err != nil {
		t.Fatal(err)
	}
	receive(t, "a revocation through another handle", changes.Revocations)
	if err := b.KeyInsert(ctx, store.KeyRow{KID: "k", Format: "jwt", Alg: "EdDSA", State: "next", Public: []byte{1}, Created: 1}); err != nil {
		t.Fatal(err)
	}
	receive(t, "a key through another handle", changes.Keys)

	// Kill the watch's connection: it connects again and announces
	// both concerns, though nothing changed.
	var killed int
	err = b.Pool().QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND datname = current_database()`, watchName).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("killed %d watch connections (%v), want 1", killed, err)
	}
	receive(t, "keys, after the watch connected again", changes.Keys)
	receive(t, "revocations, after the watch connected again", changes.Revocations)
	if _, err := b.RevocationInsert(ctx, store.RevocationRow{Kind: store.RevokeToken, Value: "j2", ExpiresAt: 1}); err != nil {
		t.Fatal(err)
	}
	receive(t, "a revocation after the watch connected again", changes.Revocations)

	// The end of ctx closes the channels; so does Close, for another watch.
	cancel()
	for range changes.Revocations {
	}
	for range changes.Keys {
	}
	other, err := a.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	for range other.Revocations {
	}
	if _, err := a.Watch(ctx); err == nil {
		t.Error("Watch on a closed handle succeeded")
	}
}

// TestParsePayload: a notification that any client may send on the
// channel makes a watch reread at worst.
func TestParsePayload(t *testing.T) {
	all := store.ChangedKeys | store.ChangedRevocations
	for _, c := range []struct {
		payload string
		want    store.Change
	}{
		{"keys", store.ChangedKeys},
		{"revocations", store.ChangedRevocations},
		{"keys revocations", all},
		{"", all},
		{"   ", all},
		{"keys bogus", all},
		{"KEYS", all},
		{"\x00\xff", all},
	} {
		if got := parsePayload(c.payload); got != c.want {
			t.Errorf("parsePayload(%q) = %b, want %b", c.payload, got, c.want)
		}
	}
	for c := store.Change(1); c <= all; c++ {
		if got := parsePayload(payload(c)); got != c {
			t.Errorf("parsePayload(payload(%b)) = %b", c, got)
		}
	}
}
