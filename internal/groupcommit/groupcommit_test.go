package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
)

// queued returns how many callers wait in the queue.
func (c *Committer[T]) queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// TestBatches: callers that arrive while a commit runs share the next
// one, at most MaxBatch at a time; each gets its own outcome; an error
// for a whole batch commits its items one by one, so that only the bad
// one fails.
func TestBatches(t *testing.T) {
	const callers = 40
	var (
		mu      sync.Mutex
		batches [][]int
		started = make(chan struct{}) // the first commit runs
		release = make(chan struct{}) // and may end
	)
	c := &Committer[int]{MaxBatch: 16, Commit: func(_ context.Context, items []int) ([]error, error) {
		mu.Lock()
		n := len(batches)
		batches = append(batches, slices.Clone(items))
		mu.Unlock()
		if n == 0 {
			close(started)
			<-release // until everyone else queued
		}
		out := make([]error, len(items))
		for i, v := range items {
			switch {
			case v == 13 && len(items) > 1:
				return nil, errors.New("a bad item fails its batch")
			case v == 13:
				return nil, errors.New("bad item 13")
			case v%10 == 7:
				out[i] = fmt.Errorf("refused %d", v)
			}
		}
		return out, nil
	}}
	var wg sync.WaitGroup
	errs := make([]error, callers)
	wg.Go(func() { errs[0] = c.Do(context.Background(), 0) })
	<-started
	for v := 1; v < callers; v++ {
		wg.Go(func() { errs[v] = c.Do(context.Background(), v) })
	}
	for c.queued() != callers-1 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()

	for v, err := range errs {
		want := ""
		switch {
		case v == 13:
			want = "bad item 13"
		case v%10 == 7:
			want = fmt.Sprintf("refused %d", v)
		}
		if got := fmt.Sprint(err); (err == nil) != (want == "") || err != nil && got != want {
			t.Errorf("item %d: %v, want %q", v, err, want)
		}
	}
	// 0 alone, then the 39 queued in batches of 16, 16 and 7; the batch
	// with 13 fails, and its items are committed one by one (in whatever
	// order the batches came).
	sizes := make([]int, len(batches))
	failed := 0
	for i, b := range batches {
		sizes[i] = len(b)
		if len(b) > 1 && slices.Contains(b, 13) {
			failed = len(b)
		}
	}
	want := []int{1, 16, 16, 7}
	for range failed {
		want = append(want, 1)
	}
	slices.Sort(sizes)
	slices.Sort(want)
	if !slices.Equal(sizes, want) {
		t.Errorf("batch sizes %v, want %v", sizes, want)
	}
}

// TestPanic: a commit that panics fails the other callers of its batch
// instead of leaving them waiting, and the callers after them still
// commit; the panic goes on in the caller that led.
func TestPanic(t *testing.T) {
	var (
		started = make(chan struct{})
		release = make(chan struct{})
		first   = true
	)
	c := &Committer[int]{Commit: func(_ context.Context, items []int) ([]error, error) {
		if first {
			first = false
			close(started)
			<-release
		}
		if slices.Contains(items, 0) {
			panic("commit of 0")
		}
		return make([]error, len(items)), nil
	}}
	panics := make(chan any, 2)
	do := func(v int) {
		defer func() { panics <- recover() }()
		c.Do(context.Background(), v)
	}
	go do(1)
	<-started
	go do(0)
	for c.queued() != 1 {
		runtime.Gosched()
	}
	errs := make(chan error, 1)
	go func() { errs <- c.Do(context.Background(), 2) }()
	for c.queued() != 2 {
		runtime.Gosched()
	}
	close(release)
	// 1 commits alone, then 0 and 2 together: 0 leads, and panics.
	if p1, p0 := <-panics, <-panics; p1 != nil || p0 != "commit of 0" {
		t.Fatalf("the callers of 1 and 0 panicked with %v and %v, want nil and the commit's panic", p1, p0)
	}
	if err := <-errs; err == nil {
		t.Errorf("a caller of the batch that panicked: no error")
	}
	if err := c.Do(context.Background(), 3); err != nil {
		t.Errorf("a commit after the panic: %v", err)
	}
}
