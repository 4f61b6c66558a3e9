package revoked_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/revoked"
)

// within fails the test if done is not closed within a generous time: a
// guard against a hang, not a measure.
func within(t *testing.T, what string, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: not within 30s", what)
	}
}

// until polls cond until it holds, failing the test if it does not within
// a generous time: a guard against a hang, not a measure.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
	}
}

// TestFollowWaitingFeed: over a feed that holds reads, the background loop
// reads with WaitChanges, not on its Refresh ticker (an hour here), and
// applies each change as the feed has it; Changed is closed at each.
func TestFollowWaitingFeed(t *testing.T) {
	ctx := context.Background()
	f := &waitingFeed{memFeed: newMemFeed(), wait: time.Minute, held: make(chan struct{}, 8)}
	snap := snapshot(t, revoked.SnapshotConfig{Feed: f, Refresh: time.Hour})
	for i := range 3 {
		changed := snap.Changed()
		within(t, "a held read", f.held)
		jti := newJTI()
		f.revokeToken(jti, time.Now(), time.Now().Add(time.Hour))
		within(t, "the change", changed)
		if got := snap.Seq(); got != int64(i+1) {
			t.Fatalf("seq %d after %d changes", got, i+1)
		}
		if err := snap.CheckRevocation(ctx, &verifier.Claims{ID: jti}); !errors.Is(err, verifier.ErrRevoked) {
			t.Errorf("change %d: %v, want ErrRevoked", i+1, err)
		}
	}
	if n := f.waits.Load(); n < 3 {
		t.Errorf("%d reads with WaitChanges, want at least 3", n)
	}
	// Changes was called for the first load only, besides the reads that
	// WaitChanges made after waiting.
	f.mu.Lock()
	defer f.mu.Unlock()
	if int64(len(f.reads)) > f.waits.Load()+1 {
		t.Errorf("%d reads in all for %d waiting reads: reads besides the first load did not wait", len(f.reads), f.waits.Load())
	}
}

// TestRefreshNotHeldByWait: Refresh, called while the loop's read is held,
// answers at once, and the held read's answer, when it comes, leaves the
// snapshot where Refresh took it.
func TestRefreshNotHeldByWait(t *testing.T) {
	ctx := context.Background()
	f := &waitingFeed{memFeed: newMemFeed(), wait: time.Minute, held: make(chan struct{}, 1)}
	snap := snapshot(t, revoked.SnapshotConfig{Feed: f, Refresh: time.Hour})
	within(t, "a held read", f.held)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := snap.Refresh(ctx); err != nil {
			t.Error(err)
		}
	}()
	within(t, "Refresh while a read is held", done)
	f.revokeToken(newJTI(), time.Now(), time.Now().Add(time.Hour))
	if err := snap.Refresh(ctx); err != nil || snap.Seq() != 1 {
		t.Fatalf("refresh: %v, seq %d", err, snap.Seq())
	}
	snap.Close()
	if snap.Seq() != 1 {
		t.Errorf("seq %d after the held read ended, want 1", snap.Seq())
	}
}

// TestFollowPacedWhenNotHeld: a feed that answers at once with nothing
// new (a server holding no more reads) is read at most once per Refresh.
func TestFollowPacedWhenNotHeld(t *testing.T) {
	f := &waitingFeed{memFeed: newMemFeed(), wait: time.Minute, early: true}
	const every = 20 * time.Millisecond
	start := time.Now()
	snap := snapshot(t, revoked.SnapshotConfig{Feed: f, Refresh: every})
	until(t, "5 reads", func() bool { return f.waits.Load() >= 5 })
	snap.Close()
	elapsed := time.Since(start)
	// A bound from above: a slow machine reads less often, never more.
	if n, most := f.waits.Load(), int64(elapsed/every)+1; n > most {
		t.Errorf("%d reads in %v at a pace of %v: more than %d", n, elapsed, every, most)
	}
}

// TestFollowBacksOff: failed reads are reported and retried after pauses
// that double, within their bounds; once the feed answers again the
// snapshot follows it.
func TestFollowBacksOff(t *testing.T) {
	f := &waitingFeed{memFeed: newMemFeed(), wait: time.Minute}
	var errs atomic.Int64
	const every = 5 * time.Millisecond
	snap := snapshot(t, revoked.SnapshotConfig{Feed: f, Refresh: every, OnError: func(error) { errs.Add(1) }})
	f.set(func(f *memFeed) { f.fail = true })
	start := time.Now()
	until(t, "5 failed reads", func() bool { return errs.Load() >= 5 })
	elapsed := time.Since(start)
	// Pauses after n failures in a row are at least every·2^(n-1)/2: five
	// failures take at least (1+2+4+8)·every/2 besides the first read.
	if min := (1 + 2 + 4 + 8) * every / 2; elapsed < min {
		t.Errorf("5 failed reads within %v: the pauses did not double (at least %v)", elapsed, min)
	}
	f.set(func(f *memFeed) { f.fail = false })
	changed := snap.Changed()
	f.revokeToken(newJTI(), time.Now(), time.Now().Add(time.Hour))
	within(t, "the change after the feed came back", changed)
}

// TestBackoff: the pause doubles from Refresh at each failure in a row,
// up to its ceiling, and never overflows.
func TestBackoff(t *testing.T) {
	for _, tt := range []struct {
		failures int
		want     time.Duration
	}{
		{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {6, 30 * time.Second}, {1000, 30 * time.Second},
	} {
		if got := revoked.Backoff(time.Second, 30*time.Second, tt.failures); got != tt.want {
			t.Errorf("after %d failures: %v, want %v", tt.failures, got, tt.want)
		}
	}
	if got := revoked.Backoff(time.Minute, time.Minute, 1000); got != time.Minute {
		t.Errorf("ceiling equal to the base: %v", got)
	}
}

// TestWaitingStaleness: a held read that ends with nothing new, but with
// data the feed vouches for as current (a writ server's document signed
// anew), keeps the snapshot fresh; one that brings old data (replayed)
// does not, and the snapshot fails closed. A staleness bound that a wait
// would exceed is refused.
func TestWaitingStaleness(t *testing.T) {
	ctx := context.Background()
	f := &waitingFeed{memFeed: newMemFeed(), wait: 10 * time.Millisecond}
	for _, bound := range []time.Duration{f.wait, f.wait + revoked.WaitMargin - time.Millisecond} {
		if _, err := revoked.NewSnapshot(ctx, revoked.SnapshotConfig{Feed: f, Refresh: time.Second, MaxStaleness: bound}); err == nil {
			t.Errorf("a staleness bound of %v, within the wait %v and its margin, was accepted", bound, f.wait)
		}
	}
	c := newClock()
	f.set(func(f *memFeed) { f.asOf = c.now() })
	snap := snapshot(t, revoked.SnapshotConfig{Feed: f, Refresh: time.Hour, MaxStaleness: time.Minute, Now: c.now})
	claims := &verifier.Claims{ID: newJTI()}
	// Each held read ends with nothing new; the feed's data is current
	// as of the clock's time.
	advanceAndWait := func(d time.Duration, asOf func() time.Time) {
		t.Helper()
		before := f.waits.Load()
		c.advance(d)
		f.set(func(f *memFeed) { f.asOf = asOf() })
		// One read began and ended after the change.
		until(t, "a read after the change", func() bool { return f.waits.Load() >= before+2 })
	}
	advanceAndWait(50*time.Second, c.now)
	advanceAndWait(50*time.Second, c.now)
	if err := snap.CheckRevocation(ctx, claims); err != nil {
		t.Errorf("after reads ending with current data: %v", err)
	}
	replayed := c.now()
	advanceAndWait(2*time.Minute, func() time.Time { return replayed })
	if err := snap.CheckRevocation(ctx, claims); !errors.Is(err, revoked.ErrStale) {
		t.Errorf("after reads bringing only replayed data: %v, want ErrStale", err)
	}
}

// TestFollowCutOff: behind a proxy that cuts off every held read, the
// snapshot still learns each change by the plain read that follows a
// failed held one, rather than back off (an hour here) and go stale.
func TestFollowCutOff(t *testing.T) {
	ctx := context.Background()
	f := &waitingFeed{memFeed: newMemFeed(), wait: 10 * time.Millisecond, cut: true}
	var errs atomic.Int64
	snap := snapshot(t, revoked.SnapshotConfig{Feed: f, Refresh: time.Hour, OnError: func(error) { errs.Add(1) }})
	for range 3 {
		changed := snap.Changed()
		jti := newJTI()
		f.revokeToken(jti, time.Now(), time.Now().Add(time.Hour))
		within(t, "the change behind a proxy that cuts held reads", changed)
		if err := snap.CheckRevocation(ctx, &verifier.Claims{ID: jti}); !errors.Is(err, verifier.ErrRevoked) {
			t.Errorf("%v, want ErrRevoked", err)
		}
	}
	if errs.Load() == 0 {
		t.Error("the failed held reads were not reported")
	}
}
