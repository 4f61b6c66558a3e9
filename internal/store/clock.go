package store

import (
	"context"
	"time"
)

// DatabaseNow returns x's clock (Executor.Now), or fake's time when fake
// is not nil: a test's clock standing in for the database's.
func DatabaseNow(ctx context.Context, x Executor, fake func() time.Time) (time.Time, error) {
	if fake != nil {
		return fake(), nil
	}
	sec, err := x.Now(ctx)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(sec, 0), nil
}
