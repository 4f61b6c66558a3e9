package revocation_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/revocation"
)

// TestSubjectCutoffAfterFailedBatch: when the transaction of a group of
// changes fails and each change runs again alone, a subject revocation
// without a cut-off revokes the tokens issued before the time of the
// transaction that records it, not before that of the one that failed.
func TestSubjectCutoffAfterFailedBatch(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	first, third := e.issue(t, "alice", time.Hour), e.issue(t, "carol", time.Hour)
	e.issue(t, "bob", time.Hour)
	s := &failSecondCommit{Store: e.db, entered: make(chan struct{}), release: make(chan struct{})}
	var calls atomic.Int64
	base := e.clock.now()
	now := func() time.Time { return base.Add(time.Duration(calls.Add(1)) * 10 * time.Second) }
	l, err := revocation.NewList(revocation.Config{Store: s, MaxTTL: 24 * time.Hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	var subject revocation.Entry
	var release sync.Once
	// A failure below leaves the first transaction held: released before
	// the store closes, which would wait for it.
	t.Cleanup(func() { release.Do(func() { close(s.release) }) })
	wg.Go(func() { _, errs[0] = l.RevokeToken(ctx, first.ID, revocation.Options{}) })
	select {
	case <-s.entered: // the first change's transaction begins, and waits
	case <-time.After(30 * time.Second):
		t.Fatal("the first change began no transaction within 30s")
	}
	wg.Go(func() { subject, errs[1] = l.RevokeSubject(ctx, "bob", time.Time{}, revocation.Options{}) })
	wg.Go(func() { _, errs[2] = l.RevokeToken(ctx, third.ID, revocation.Options{}) })
	waitQueued(t, 2)
	release.Do(func() { close(s.release) })
	wg.Wait()
	for n, err := range errs {
		if err != nil {
			t.Fatalf("change %d: %v", n, err)
		}
	}
	// The first alone, the two others together (which fails), then each
	// alone.
	if n := s.begins.Load(); n != 4 {
		t.Fatalf("%d transactions, want 4", n)
	}
	if subject.IssuedBefore.Before(subject.CreatedAt) {
		t.Errorf("subject revocation made at %s revokes the tokens issued before %s", subject.CreatedAt, subject.IssuedBefore)
	}
}

// failSecondCommit is a Store whose first write transaction waits, once
// begun, for release, and whose second fails to commit.
type failSecondCommit struct {
	store.Store
	begins           atomic.Int64
	entered, release chan struct{}
}

func (s *failSecondCommit) Begin(ctx context.Context) (store.Tx, error) {
	n := s.begins.Add(1)
	tx, err := s.Store.Begin(ctx)
	switch {
	case err != nil:
		return nil, err
	case n == 1:
		close(s.entered)
		<-s.release
	case n == 2:
		return failingCommit{tx}, nil
	}
	return tx, nil
}

// failingCommit is a transaction whose Commit rolls back and fails.
type failingCommit struct{ store.Tx }

func (f failingCommit) Commit() error {
	return errors.Join(errors.New("commit failed"), f.Tx.Rollback())
}

// waitQueued waits until n goroutines wait in a group commit for another
// caller's commit, failing the test if they do not within 30 s.
func waitQueued(t *testing.T, n int) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if time.Now().After(deadline) {
			t.Fatalf("%d changes not queued behind another's commit within 30s", n)
		}
		queued := 0
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, "groupcommit.(*Committer[...]).Do(") && !strings.Contains(g, "commitQueued") {
				queued++
			}
		}
		if queued >= n {
			return
		}
		runtime.Gosched()
	}
}
