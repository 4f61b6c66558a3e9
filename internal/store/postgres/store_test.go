package postgres

import (
	"context"
	"testing"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
	"github.com/writ-dev/writ/internal/store/storetest"
)

// TestStore proves the PostgreSQL engine against the storage contract,
// each case on a new database of one throwaway cluster.
func TestStore(t *testing.T) {
	cluster := pgtest.StartCluster(t)
	storetest.Exercise(t, func(t *testing.T) store.Store {
		db, err := Open(context.Background(), cluster.NewDatabase(t), true)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
