package revoked_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/revoked"
)

var _ verifier.RevocationChecker = (*revoked.Snapshot)(nil)

func TestNewSnapshotConfig(t *testing.T) {
	ctx := context.Background()
	for name, cfg := range map[string]revoked.SnapshotConfig{
		"no feed":            {},
		"negative refresh":   {Feed: newMemFeed(), Refresh: -time.Second},
		"negative staleness": {Feed: newMemFeed(), MaxStaleness: -time.Second},
	} {
		if s, err := revoked.NewSnapshot(ctx, cfg); err == nil || s != nil {
			t.Errorf("%s: %v, %v; want an error", name, s, err)
		}
	}
	failing := newMemFeed()
	failing.fail = true
	if _, err := revoked.NewSnapshot(ctx, revoked.SnapshotConfig{Feed: failing}); err == nil {
		t.Error("a snapshot whose first read failed")
	}
}

// TestCheckRevocation: a token is revoked by its jti, by its subject (if
// issued before the cut-off) or by its key; nothing else is.
func TestCheckRevocation(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	now := c.now()
	f := newMemFeed()
	s := snapshot(t, revoked.SnapshotConfig{Feed: f, Now: c.now})
	claims := func(jti, subject, kid string, iat time.Time) *verifier.Claims {
		return &verifier.Claims{ID: jti, Subject: subject, KeyID: kid, IssuedAt: iat}
	}
	jti, other := newJTI(), newJTI()
	f.revokeToken(jti, now, now.Add(time.Hour))
	f.revokeToken("not-a-writ-jti", now, now.Add(time.Hour))
	f.revokeSubject("alice", now, now.Add(time.Hour))
	f.revokeKey("old-kid", now.Add(time.Hour))
	if err := s.CheckRevocation(ctx, claims(jti, "bob", "kid", now)); err != nil {
		t.Fatalf("before the refresh: %v", err)
	}
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Seq() != 4 || s.Epoch() != "e1" || s.Len() != 4 {
		t.Errorf("seq %d, epoch %q, len %d; want 4, e1, 4", s.Seq(), s.Epoch(), s.Len())
	}
	for _, tc := range []struct {
		name    string
		c       *verifier.Claims
		revoked bool
	}{
		{"revoked jti", claims(jti, "bob", "kid", now), true},
		{"revoked jti of another issuer", claims("not-a-writ-jti", "bob", "kid", now), true},
		{"other jti", claims(other, "bob", "kid", now), false},
		{"subject, issued before the cut-off", claims(other, "alice", "kid", now.Add(-time.Second)), true},
		{"subject, issued at the cut-off", claims(other, "alice", "kid", now), false},
		{"revoked key", claims(other, "bob", "old-kid", now), true},
	} {
		err := s.CheckRevocation(ctx, tc.c)
		if errors.Is(err, verifier.ErrRevoked) != tc.revoked || (err != nil && !tc.revoked) {
			t.Errorf("%s: %v, revoked want %v", tc.name, err, tc.revoked)
		}
	}
	// The messages name what is revoked, never more of the token.
	if err := s.CheckRevocation(ctx, claims(other, "bob", "old-kid", now)); err == nil || err.Error() != `token revoked: signing key "old-kid"` {
		t.Errorf("message %q", err)
	}
}

// TestGracePeriod: a revocation that takes effect later does so at its
// time, in a snapshot that follows the changes and in one loaded then; of
// two revocations of one token, the sooner wins.
func TestGracePeriod(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	now := c.now()
	f := newMemFeed()
	s := snapshot(t, revoked.SnapshotConfig{Feed: f, Now: c.now})
	a, b := newJTI(), newJTI()
	f.revokeToken(a, now.Add(10*time.Minute), now.Add(time.Hour))
	f.revokeToken(b, now.Add(time.Hour), now.Add(2*time.Hour))
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	check := func(s *revoked.Snapshot, jti string, want bool) {
		t.Helper()
		if err := s.CheckRevocation(ctx, &verifier.Claims{ID: jti}); errors.Is(err, verifier.ErrRevoked) != want {
			t.Errorf("%s: %v, revoked want %v", jti, err, want)
		}
	}
	check(s, a, false)
	check(s, b, false)
	c.advance(10 * time.Minute)
	check(s, a, true) // without a refresh
	check(s, b, false)
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	check(s, a, true)
	// Revoked again, at once: the sooner revocation wins.
	f.revokeToken(b, c.now(), now.Add(2*time.Hour))
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	check(s, b, true)
	// A later one changes nothing.
	f.revokeToken(b, now.Add(90*time.Minute), now.Add(2*time.Hour))
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	check(s, b, true)
	fresh := snapshot(t, revoked.SnapshotConfig{Feed: f, Now: c.now})
	check(fresh, a, true)
	check(fresh, b, true)
}

// TestStalenessFailsClosed: a snapshot told to fail closed does so once
// its data is older than its bound, with ErrStale and not ErrRevoked, and
// recovers at the next good refresh.
func TestStalenessFailsClosed(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	m := newTokenMaker(t)
	tok := m.issue(t, "alice", c.now(), time.Hour)
	f := newMemFeed()
	snap := snapshot(t, revoked.SnapshotConfig{Feed: f, MaxStaleness: time.Minute, Now: c.now})
	v := m.verifier(t, c.now, snap)
	if _, err := v.Verify(ctx, tok.Token); err != nil {
		t.Fatal(err)
	}
	f.set(func(f *memFeed) { f.fail = true })
	c.advance(30 * time.Second)
	if err := snap.Refresh(ctx); err == nil {
		t.Fatal("refresh through a failing feed succeeded")
	}
	if got := snap.Staleness(); got != 30*time.Second {
		t.Errorf("staleness %v, want 30s", got)
	}
	if _, err := v.Verify(ctx, tok.Token); err != nil {
		t.Errorf("within the bound: %v", err)
	}
	c.advance(31 * time.Second)
	if _, err := v.Verify(ctx, tok.Token); !errors.Is(err, revoked.ErrStale) || errors.Is(err, verifier.ErrRevoked) {
		t.Errorf("past the bound: %v, want ErrStale", err)
	}
	f.set(func(f *memFeed) { f.fail = false })
	if err := snap.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, tok.Token); err != nil {
		t.Errorf("after a good refresh: %v", err)
	}
}

// TestReplayedFeedIsStale: a snapshot is as fresh as its data, whatever the
// time of the fetch that brought it.
func TestReplayedFeedIsStale(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	m := newTokenMaker(t)
	tok := m.issue(t, "alice", c.now(), 2*time.Hour)
	f := newMemFeed()
	f.asOf = c.now()
	snap := snapshot(t, revoked.SnapshotConfig{Feed: f, MaxStaleness: 10 * time.Minute, Now: c.now})
	c.advance(time.Hour)
	if err := snap.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := snap.Staleness(); got != time.Hour {
		t.Errorf("staleness after a replayed feed: %v, want 1h", got)
	}
	if _, err := m.verifier(t, c.now, snap).Verify(ctx, tok.Token); !errors.Is(err, revoked.ErrStale) {
		t.Errorf("verify with only a replayed feed: %v, want ErrStale", err)
	}
}

// TestRereadOnAheadOrNewEpoch: a snapshot reads the whole list again when
// its feed says it is ahead (ErrAhead) or names a new epoch (a database
// restored from a backup), keeps what it held, and takes the list's
// sequence number.
func TestRereadOnAheadOrNewEpoch(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	now := c.now()
	for _, restore := range []string{"behind, new epoch", "ahead"} {
		t.Run(restore, func(t *testing.T) {
			f := newMemFeed()
			lost := []string{newJTI(), newJTI(), newJTI()}
			for _, jti := range lost {
				f.revokeToken(jti, now, now.Add(time.Hour))
			}
			s := snapshot(t, revoked.SnapshotConfig{Feed: f, Now: c.now})
			if s.Seq() != 3 {
				t.Fatalf("snapshot at %d, want 3", s.Seq())
			}
			// The restored list: one revocation of its own, then, for a
			// reader behind, three more.
			restored := newMemFeed()
			restored.epoch = "e2"
			after := []string{newJTI()}
			restored.revokeToken(after[0], now, now.Add(time.Hour))
			if restore == "behind, new epoch" {
				for range 3 {
					after = append(after, newJTI())
					restored.revokeToken(after[len(after)-1], now, now.Add(time.Hour))
				}
			}
			f.set(func(f *memFeed) { f.epoch, f.changes = restored.epoch, restored.changes })
			if err := s.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			if want := int64(len(after)); s.Seq() != want || s.Epoch() != "e2" {
				t.Errorf("snapshot at %d of %q, want %d of e2", s.Seq(), s.Epoch(), want)
			}
			if got := f.reads[len(f.reads)-1]; got != 0 {
				t.Errorf("last read after %d, want the whole list", got)
			}
			for _, jti := range append(lost, after...) {
				if err := s.CheckRevocation(ctx, &verifier.Claims{ID: jti}); !errors.Is(err, verifier.ErrRevoked) {
					t.Errorf("%s: %v, want ErrRevoked", jti, err)
				}
			}
		})
	}
}

// TestPruneAfterLeeway: an entry is dropped once its tokens have expired
// by more than any verifier's leeway, not before; one whose expiry lies
// beyond 2106 (32 bits) is kept.
func TestPruneAfterLeeway(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	now := c.now()
	f := newMemFeed()
	short, long, forever := newJTI(), newJTI(), newJTI()
	f.revokeToken(short, now, now.Add(time.Hour))
	f.revokeToken(long, now, now.Add(3*time.Hour))
	f.revokeToken(forever, now, time.Unix(math.MaxUint32+1000, 0))
	f.revokeSubject("alice", now, now.Add(time.Hour))
	f.revokeKey("kid", now.Add(time.Hour))
	s := snapshot(t, revoked.SnapshotConfig{Feed: f, Now: c.now})
	c.advance(time.Hour + verifier.MaxLeeway - time.Second)
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 5 {
		t.Errorf("within the leeway after expiry: %d entries, want 5", s.Len())
	}
	c.advance(time.Minute + time.Second) // a snapshot prunes once a minute at most
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 2 {
		t.Errorf("past the leeway after expiry: %d entries, want 2", s.Len())
	}
	for _, jti := range []string{long, forever} {
		if err := s.CheckRevocation(ctx, &verifier.Claims{ID: jti}); !errors.Is(err, verifier.ErrRevoked) {
			t.Errorf("%s: %v, want ErrRevoked", jti, err)
		}
	}
	c.advance(100 * 365 * 24 * time.Hour)
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckRevocation(ctx, &verifier.Claims{ID: forever}); !errors.Is(err, verifier.ErrRevoked) {
		t.Errorf("an entry expiring after 2106, a century on: %v, want ErrRevoked", err)
	}
}

// TestManyTokens: the set of revoked jtis grows through many refreshes and
// one large batch, and holds every entry.
func TestManyTokens(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	now := c.now()
	f := newMemFeed()
	s := snapshot(t, revoked.SnapshotConfig{Feed: f, Now: c.now})
	var jtis []string
	for i := range 5000 {
		jti := newJTI()
		jtis = append(jtis, jti)
		f.revokeToken(jti, now, now.Add(time.Hour))
		if i%7 == 0 {
			if err := s.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	fresh := snapshot(t, revoked.SnapshotConfig{Feed: f, Now: c.now})
	for _, snap := range []*revoked.Snapshot{s, fresh} {
		if snap.Len() != len(jtis) {
			t.Errorf("%d entries, want %d", snap.Len(), len(jtis))
		}
		for _, jti := range jtis {
			if err := snap.CheckRevocation(ctx, &verifier.Claims{ID: jti}); !errors.Is(err, verifier.ErrRevoked) {
				t.Fatalf("%s: %v, want ErrRevoked", jti, err)
			}
		}
		for range 5000 {
			if err := snap.CheckRevocation(ctx, &verifier.Claims{ID: newJTI()}); err != nil {
				t.Fatalf("a jti never revoked: %v", err)
			}
		}
	}
}

func TestBackgroundRefresh(t *testing.T) {
	f := newMemFeed()
	snap, err := revoked.NewSnapshot(context.Background(), revoked.SnapshotConfig{Feed: f, Refresh: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	f.revokeToken(newJTI(), time.Now(), time.Now().Add(time.Hour))
	deadline := time.Now().Add(5 * time.Second)
	for snap.Seq() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("background refresh never picked up the revocation")
		}
		time.Sleep(5 * time.Millisecond)
	}
	snap.Close()
	snap.Close() // idempotent
}

// TestBackgroundRefreshErrors: OnError receives the errors of background
// refreshes.
func TestBackgroundRefreshErrors(t *testing.T) {
	f := newMemFeed()
	errs := make(chan error, 1)
	snap, err := revoked.NewSnapshot(context.Background(), revoked.SnapshotConfig{Feed: f, Refresh: 5 * time.Millisecond,
		OnError: func(err error) {
			select {
			case errs <- err:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	f.set(func(f *memFeed) { f.fail = true })
	select {
	case err := <-errs:
		if err == nil {
			t.Error("OnError(nil)")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no background refresh error reported")
	}
}

// TestSnapshotCloseTwice: Close may be called concurrently and repeatedly.
func TestSnapshotCloseTwice(t *testing.T) {
	snap, err := revoked.NewSnapshot(context.Background(), revoked.SnapshotConfig{Feed: newMemFeed(), Refresh: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(snap.Close)
	}
	wg.Wait()
	snap.Close()
}
