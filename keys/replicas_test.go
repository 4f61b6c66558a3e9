package keys_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/verifier"
)

// TestScheduledRotationOnOneReplica: replicas that apply the rotation
// policy at the same moment rotate once between them, even when their
// clocks disagree by more than a next key must be published: the second
// finds, within its own transaction, that the rotation is no longer due,
// rather than activating the next key that the first just published.
func TestScheduledRotationOnOneReplica(t *testing.T) {
	onBothEngines(t, func(t *testing.T, newDatabase func() (open func() store.Store)) {
		ctx := context.Background()
		open := newDatabase()
		h := [2]store.Store{open(), open()}
		mk := newMasterKey(t)
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		const skew = 2 * time.Minute // replica B's clock runs ahead
		clocks := [2]*clock{{now: start}, {now: start.Add(skew)}}
		advance := func(d time.Duration) {
			for _, c := range clocks {
				c.add(d)
			}
		}
		policy := keys.Policy{Period: time.Hour, MinPublished: time.Minute, PublishFloor: -1}
		var rings [2]*keys.Ring
		for i := range rings {
			var err error
			if rings[i], err = keys.OpenRing(ctx, keys.RingConfig{Store: h[i], MasterKey: mk, Now: clocks[i].Now, Policy: policy}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := rings[0].Ensure(ctx, verifier.EdDSA); err != nil {
			t.Fatal(err)
		}

		// B reads the active key as due, then A rotates before B's
		// transaction: B must not rotate again.
		advance(policy.Period)
		if _, err := rings[0].RotateDue(ctx); err != nil {
			t.Fatal(err)
		}
		if rot, err := keys.RotateIfDue(ctx, rings[1], keys.JWT); err == nil {
			t.Fatalf("replica B rotated again right after replica A: %+v", rot)
		}

		// Both at once, period after period: one rotation each time.
		const periods = 6
		for range periods {
			advance(policy.Period)
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
