// Package groupcommit shares durable commits among concurrent callers: one
// caller at a time, the leader, commits every item queued so far in one
// transaction and one sync, then hands the lead to the next caller queued,
// if any. Engines with one writer at a time (SQLite, and writ's PostgreSQL
// write lock) serialize the writers anyway; this way they queue in memory
// rather than in the engine's lock, and pay one transaction and one sync
// per batch instead of one each.
package groupcommit

import (
	"context"
	"errors"
	"sync"
)

// DefaultMaxBatch is the most items one commit takes when
// Committer.MaxBatch is zero.
const DefaultMaxBatch = 256

// Committer commits items of type T in groups. Its zero value is not
// usable: set Commit.
type Committer[T any] struct {
	// Commit commits items in one transaction, and returns each item's
	// outcome, or an error for the whole: nothing was committed, and each
	// item is then committed alone, so that one bad item does not fail the
	// others. A batch of one item fails with that error.
	Commit func(ctx context.Context, items []T) ([]error, error)
	// MaxBatch bounds the items of one Commit; zero means DefaultMaxBatch.
	MaxBatch int

	mu      sync.Mutex
	queue   []*waiter[T]
	leading bool // a caller is committing; the others wait on done
}

type waiter[T any] struct {
	item T
	done chan error // the outcome of the commit, or errLead
}

// ErrPanicked is the outcome of the items of a batch whose commit
// panicked (in the caller that led it).
var ErrPanicked = errors.New("groupcommit: the commit panicked")

// errLead tells a queued caller that it now leads.
var errLead = errors.New("groupcommit: lead")

// Do commits item, with the items of concurrent callers, and returns its
// outcome once it is committed (or failed). The commit does not end when
// ctx does: the batch holds other callers' items too.
func (c *Committer[T]) Do(ctx context.Context, item T) error {
	w := &waiter[T]{item: item, done: make(chan error, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, w)
	lead := !c.leading
	c.leading = true
	c.mu.Unlock()
	if !lead {
		if err := <-w.done; err != errLead {
			return err
		}
	}
	c.commitQueued(context.WithoutCancel(ctx))
	return <-w.done
}

// commitQueued commits the queue's first batch, then passes the lead to
// the first caller queued meanwhile, or gives it up. Should Commit panic,
// the callers of the batch not answered yet fail (ErrPanicked) and the
// lead passes on as the panic goes on.
func (c *Committer[T]) commitQueued(ctx context.Context) {
	limit := c.MaxBatch
	if limit <= 0 {
		limit = DefaultMaxBatch
	}
	c.mu.Lock()
	batch := c.queue[:min(len(c.queue), limit)]
	c.queue = c.queue[len(batch):]
	c.mu.Unlock()
	defer c.passLead()
	answered := 0
	defer func() {
		for _, w := range batch[answered:] {
			w.done <- ErrPanicked
		}
	}()

	items := make([]T, len(batch))
	for n, w := range batch {
		items[n] = w.item
	}
	outcomes, err := c.Commit(ctx, items)
	for n, w := range batch {
		switch {
		case err == nil:
			w.done <- outcomes[n]
		case len(batch) == 1:
			w.done <- err
		default:
			o, err := c.Commit(ctx, items[n:n+1])
			if err == nil {
				err = o[0]
			}
			w.done <- err
		}
		answered++
	}
}

// passLead passes the lead to the first caller queued, or gives it up.
func (c *Committer[T]) passLead() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		c.leading = false
		c.queue = nil // let a burst's backing array go
		return
	}
	c.queue[0].done <- errLead
}
