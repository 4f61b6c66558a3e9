package lifetime_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/lifetime"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/sqlite/sqlitetest"
)

const day = 24 * time.Hour

// TestReadWrite: the default until written; Longest never goes down; a
// row that writ did not write is an error, not a policy.
func TestReadWrite(t *testing.T) {
	ctx := context.Background()
	db := sqlitetest.Create(t, filepath.Join(t.TempDir(), "writ.db"))
	if p, err := lifetime.Read(ctx, db, 90*day); err != nil || p != (lifetime.Policy{MaxTTL: 90 * day, Longest: 90 * day}) {
		t.Fatalf("Read of no policy = %+v, %v", p, err)
	}
	for _, step := range []struct{ set, max, longest time.Duration }{
		{30 * day, 30 * day, 90 * day}, {400 * day, 400 * day, 400 * day}, {time.Hour, time.Hour, 400 * day},
	} {
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := lifetime.Write(ctx, tx, step.set, 90*day); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if p, err := lifetime.Read(ctx, db, 90*day); err != nil || p != (lifetime.Policy{MaxTTL: step.max, Longest: step.longest, Set: true}) {
			t.Errorf("after setting %v: %+v, %v", step.set, p, err)
		}
	}
	for _, row := range []string{`x`, `{"max_ttl":1,"longest":1}`, `{"max_ttl":3600,"longest":60}`, `{"max_ttl":3600,"longest":999999999999}`} {
		if err := db.MetaPut(ctx, store.MetaLifetimePolicy, []byte(row)); err != nil {
			t.Fatal(err)
		}
		if p, err := lifetime.Read(ctx, db, 90*day); err == nil {
			t.Errorf("Read of %s = %+v", row, p)
		}
	}
}
