package keys_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store/sqlite/sqlitetest"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/verifier"
)

// TestSealedReadsRaceChanges: a process reading keys from many goroutines
// (writ serve signing and publishing) while another rotates never takes a
// seal read by an older snapshot for the keyring put back: every Signer
// call signs, every key set is whole, and Rolledback stays false. Before,
// a read whose snapshot predated a rotation that another goroutine had
// already seen looked like a rollback, and issuance failed.
func TestSealedReadsRaceChanges(t *testing.T) {
	e := newRingEnv(t)
	e.ensure(t, verifier.EdDSA)
	ctx := context.Background()
	db2 := sqlitetest.Open(t, e.dbPath)
	other, err := keys.OpenRing(ctx, keys.RingConfig{Store: db2, MasterKey: e.mk, Now: func() time.Time { return ringNow }})
	if err != nil {
		t.Fatal(err)
	}
	var untrusted, rolledBack, emptySets atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if i == 0 {
					if p, err := e.ring.Published(ctx); err != nil || len(p) == 0 {
						emptySets.Add(1)
					}
				} else if _, err := e.ring.Signer(ctx, keys.JWT); errors.Is(err, keys.ErrUntrusted) {
					untrusted.Add(1)
				} else if err != nil {
					t.Error(err)
					return
				}
				if e.ring.Rolledback() {
					rolledBack.Add(1)
				}
			}
		})
	}
	for range 60 {
		if _, err := other.Rotate(ctx, keys.JWT, keys.RotateOptions{Force: true}); err != nil {
			t.Error(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if untrusted.Load() > 0 || rolledBack.Load() > 0 || emptySets.Load() > 0 {
		t.Errorf("false alarms while another process rotated: %d Signer refusals, %d Rolledback, %d empty or failed key sets",
			untrusted.Load(), rolledBack.Load(), emptySets.Load())
	}
}
