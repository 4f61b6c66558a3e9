package keys_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/verifier"
)

// twoHandles opens two handles of one new database of engine ("sqlite"
// or "postgres"), as two replicas, or a replica and the CLI, do.
func twoHandles(t *testing.T, engine string) [2]store.Store {
	t.Helper()
	ctx := context.Background()
	open := func(create bool) (store.Store, error) { return nil, errors.New("unknown engine " + engine) }
	switch engine {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "writ.db")
		open = func(create bool) (store.Store, error) { return sqlite.Open(ctx, path, create) }
	case "postgres":
		url := pgtest.Start(t)
		open = func(create bool) (store.Store, error) { return postgres.Open(ctx, url, create) }
	}
	var h [2]store.Store
	for i := range h {
		s, err := open(i == 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		h[i] = s
	}
	return h
}

// TestScheduledRotationOnOneReplica: replicas that apply the rotation
// policy at the same moment rotate once between them, even when their
// clocks disagree by more than a next key must be published: the second
// finds, within its own transaction, that the rotation is no longer due,
// rather than activating the next key that the first just published.
func TestScheduledRotationOnOneReplica(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			h := twoHandles(t, engine)
			mk, err := keys.GenerateMasterKeyFile(filepath.Join(t.TempDir(), "master.key"))
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			const skew = 2 * time.Minute // replica B's clock runs ahead
			policy := keys.Policy{Period: time.Hour, MinPublished: time.Minute, PublishFloor: -1}
			var rings [2]*keys.Ring
			for i := range rings {
				clock := func() time.Time {
					mu.Lock()
					defer mu.Unlock()
					return now.Add(time.Duration(i) * skew)
				}
				if rings[i], err = keys.OpenRing(ctx, keys.RingConfig{Store: h[i], MasterKey: mk, Now: clock, Policy: policy}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := rings[0].Ensure(ctx, verifier.EdDSA); err != nil {
				t.Fatal(err)
			}

			// B reads the active key as due, then A rotates before B's
			// transaction: B must not rotate again.
			mu.Lock()
			now = now.Add(policy.Period)
			mu.Unlock()
			if _, err := rings[0].RotateDue(ctx); err != nil {
				t.Fatal(err)
			}
			if rot, err := keys.RotateIfDue(ctx, rings[1], keys.JWT); err == nil {
				t.Fatalf("replica B rotated again right after replica A: %+v", rot)
			}

			// Both at once, period after period: one rotation each time.
			const periods = 6
			for range periods {
				mu.Lock()
				now = now.Add(policy.Period)
				mu.Unlock()
				var wg sync.WaitGroup
				for _, r := range rings {
					wg.Go(func() {
						if _, err := r.RotateDue(ctx); err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
			}
			events, err := audit.NewLog(h[0])
			if err != nil {
				t.Fatal(err)
			}
			all, err := events.List(ctx, audit.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			var rotations []audit.Event
			for _, e := range all {
				if e.Action == audit.KeyRotate {
					rotations = append(rotations, e)
				}
			}
			// Two formats, each rotated once by the first RotateDue and
			// once per period.
			if want := 2 * (1 + periods); len(rotations) != want {
				t.Errorf("%d rotations, want %d: %+v", len(rotations), want, rotations)
			}
		})
	}
}
