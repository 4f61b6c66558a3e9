package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/storetest"
)

// TestStore proves the SQLite engine against the storage contract.
func TestStore(t *testing.T) {
	storetest.Exercise(t, func(t *testing.T) store.Store {
		db, err := Open(context.Background(), filepath.Join(t.TempDir(), "writ.db"), true)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
