package revoked_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/cascade"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/revoked"
)

// batchFeed answers every read with the batch a test sets, as a snapshot
// file's reader does: the whole state, whatever since was asked.
type batchFeed struct {
	mu    sync.Mutex
	b     *revoked.Batch
	reads []int64
}

func (f *batchFeed) set(b *revoked.Batch) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.b = b
}

func (f *batchFeed) Changes(_ context.Context, since int64) (*revoked.Batch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads = append(f.reads, since)
	return f.b, nil
}

// buildFilter returns the cascade of the revoked jtis against the others.
func buildFilter(t testing.TB, revokedJTIs, others []string) *cascade.Filter {
	t.Helper()
	ids := func(jtis []string) []cascade.ID {
		out := make([]cascade.ID, len(jtis))
		for i, j := range jtis {
			out[i] = revoked.TokenIDOf(j)
		}
		return out
	}
	f, err := cascade.Build(ids(revokedJTIs), ids(others))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestFilter: a snapshot consults the filter of a snapshot file for the
// tokens issued before its universe only, after its exact entries; a
// filter replaces the one of its epoch unless older, and the first one of
// a new epoch keeps the previous epoch's beside it (two at most).
func TestFilter(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	now := c.now()
	u1 := now.Add(-time.Hour)
	exp := now.Add(time.Hour).Unix()              // the latest expiry of a filter's revoked tokens
	r1, s1, after := newJTI(), newJTI(), newJTI() // revoked, recorded, issued after the universe
	exact := newJTI()                             // revoked after the snapshot: an exact entry
	f := &batchFeed{}
	f.set(&revoked.Batch{Seq: 10, Epoch: "e1", Filter: buildFilter(t, []string{r1, exact}, []string{s1, after}), Universe: u1.Unix(), FilterExpires: exp,
		Tokens: []revoked.RevokedToken{{ID: revoked.TokenIDOf(exact), EffectiveAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix()}}})
	s := snapshot(t, revoked.SnapshotConfig{Feed: f, Now: c.now})
	if s.Seq() != 10 || s.Epoch() != "e1" || s.Len() != 1 || !s.Universe().Equal(u1) {
		t.Fatalf("seq %d, epoch %q, len %d, universe %v; want 10, e1, 1, %v", s.Seq(), s.Epoch(), s.Len(), s.Universe(), u1)
	}
	check := func(step string, want map[string]bool, iat time.Time) {
		t.Helper()
		for jti, rev := range want {
			err := s.CheckRevocation(ctx, &verifier.Claims{ID: jti, IssuedAt: iat})
			if rev && !errors.Is(err, verifier.ErrRevoked) || !rev && err != nil {
				t.Errorf("%s: token %s issued at %v: %v, want revoked %v", step, jti, iat, err, rev)
			}
		}
	}
	before := u1.Add(-time.Second)
	check("in the universe", map[string]bool{r1: true, s1: false, after: false, exact: true}, before)
	// The filter answers for the tokens issued before its universe only;
	// exact entries for every token.
	check("after the universe", map[string]bool{r1: false, s1: false, exact: true}, u1)
	check("without iat", map[string]bool{r1: false, exact: true}, time.Time{})

	// A newer snapshot file of the epoch replaces the filter: s1, revoked
	// since, reads revoked.
	u2 := u1.Add(time.Minute)
	f.set(&revoked.Batch{Seq: 12, Epoch: "e1", Filter: buildFilter(t, []string{r1, s1}, []string{after}), Universe: u2.Unix(), FilterExpires: exp})
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	check("a newer file", map[string]bool{r1: true, s1: true, after: false}, before)
	// An older copy of a file of the epoch (of an older sequence) is ignored.
	f.set(&revoked.Batch{Seq: 11, Epoch: "e1", Filter: buildFilter(t, []string{r1}, []string{s1, after}), Universe: u1.Unix(), FilterExpires: exp})
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if !s.Universe().Equal(u2) {
		t.Errorf("universe %v after an older file, want %v", s.Universe(), u2)
	}
	check("an older file", map[string]bool{r1: true, s1: true}, before)
	// A newer file of an earlier universe (built by a server whose clock
	// runs behind) replaces the filter all the same: r2, revoked in it
	// alone, reads revoked.
	r2 := newJTI()
	f.set(&revoked.Batch{Seq: 13, Epoch: "e1", Filter: buildFilter(t, []string{r1, s1, r2}, []string{after}), Universe: u2.Add(-30 * time.Second).Unix(), FilterExpires: exp})
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	check("a newer file of an earlier universe", map[string]bool{r1: true, s1: true, r2: true, after: false}, u2.Add(-time.Minute))
	f.set(&revoked.Batch{Seq: 13, Epoch: "e1", Filter: buildFilter(t, []string{r1, s1, r2}, []string{after}), Universe: u2.Unix(), FilterExpires: exp})
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}

	// A new epoch whose list lost s1's revocation (a database restored from
	// an older backup): the previous epoch's filter still answers for the
	// tokens of its universe, and the file is read once, at the sequence
	// it names, even though it is behind the snapshot's.
	r3 := newJTI()
	u3 := u2.Add(time.Minute)
	f.set(&revoked.Batch{Seq: 3, Epoch: "e2", Filter: buildFilter(t, []string{r1, r2, r3}, []string{s1, after}), Universe: u3.Unix(), FilterExpires: exp})
	reads := len(f.reads)
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Seq() != 3 || s.Epoch() != "e2" || !s.Universe().Equal(u3) || len(f.reads) != reads+1 {
		t.Errorf("seq %d, epoch %q, universe %v after %d reads; want 3, e2, %v after 1", s.Seq(), s.Epoch(), s.Universe(), len(f.reads)-reads, u3)
	}
	check("a new epoch", map[string]bool{r1: true, s1: true, r3: true, after: false}, before)
	// s1 was issued before the previous universe: a token issued after it
	// is the new filter's alone.
	check("a new epoch, after the previous universe", map[string]bool{s1: false, r3: true, after: false}, u2)

	// A third epoch whose list lost every revocation: s1, revoked in e1's
	// filter alone, r1 and r3 still read revoked, by the filters of the
	// epochs before, kept while the tokens they hold revoked may be valid.
	f.set(&revoked.Batch{Seq: 1, Epoch: "e3", Filter: buildFilter(t, nil, []string{s1, r1, r3, after}), Universe: u3.Unix(), FilterExpires: exp})
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	check("a third epoch", map[string]bool{r1: true, r3: true, s1: true, after: false}, before)
	// Once the tokens the older filters hold revoked have all expired,
	// beyond any verifier's leeway, the filters go.
	c.advance(time.Hour + verifier.MaxLeeway + 2*time.Minute)
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	check("the older epochs' tokens expired", map[string]bool{r1: false, r3: false, s1: false, after: false}, before)
}

// restoredFeed serves a list at before, then, once restored, the same
// epoch behind it (a copy restored by other means than a backup): a
// reader ahead of it is told so, and reads it again from 0.
type restoredFeed struct {
	before, after *revoked.Batch
	restored      bool
}

func (f *restoredFeed) Changes(_ context.Context, since int64) (*revoked.Batch, error) {
	if !f.restored {
		return f.before, nil
	}
	if since > f.after.Seq {
		return nil, revoked.ErrAhead
	}
	return f.after, nil
}

// TestFilterRestoredSameEpoch: a list restored behind the snapshot in the
// same epoch is read again, and the filter of that read is taken, beside
// the one held, even though its sequence number is lower: the tokens
// revoked in it alone read revoked.
func TestFilterRestoredSameEpoch(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	exp := now.Add(time.Hour).Unix()
	old, x, other := newJTI(), newJTI(), newJTI()
	f := &restoredFeed{
		before: &revoked.Batch{Seq: 10, Epoch: "e1", Filter: buildFilter(t, []string{old}, []string{x, other}), Universe: now.Add(-2 * time.Hour).Unix(), FilterExpires: exp},
		after:  &revoked.Batch{Seq: 6, Epoch: "e1", Filter: buildFilter(t, []string{x}, []string{old, other}), Universe: now.Add(-time.Minute).Unix(), FilterExpires: exp},
	}
	s := snapshot(t, revoked.SnapshotConfig{Feed: f})
	f.restored = true
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for jti, want := range map[string]bool{x: true, old: true, other: false} {
		err := s.CheckRevocation(ctx, &verifier.Claims{ID: jti, IssuedAt: now.Add(-3 * time.Hour)})
		if want != errors.Is(err, verifier.ErrRevoked) || !want && err != nil {
			t.Errorf("after the restore: token %s: %v, want revoked %v", jti, err, want)
		}
	}
}
