package loadgen

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i))
	}
	for _, c := range []struct {
		p    int
		want time.Duration
	}{{50, 100}, {90, 180}, {99, 198}, {100, 200}, {1, 2}} {
		if got := Percentile(d, c.p); got != c.want {
			t.Errorf("p%d of 1..200 = %d, want %d", c.p, got, c.want)
		}
	}
	if got := Percentile(d[:1], 99); got != 1 {
		t.Errorf("p99 of one value = %d", got)
	}
}

func TestRunCountsCallsAndErrors(t *testing.T) {
	var calls atomic.Int64
	bad := errors.New("bad")
	r := Run(context.Background(), Config{
		Workers:  3,
		Duration: 100 * time.Millisecond,
		Warmup:   20 * time.Millisecond,
		Do: func(ctx context.Context, worker int) error {
			if worker < 0 || worker > 2 {
				t.Errorf("worker %d", worker)
			}
			time.Sleep(time.Millisecond)
			if calls.Add(1)%2 == 0 {
				return bad
			}
			return nil
		},
	})
	if r.Requests == 0 || r.Requests > calls.Load() {
		t.Fatalf("%d requests counted of %d calls", r.Requests, calls.Load())
	}
	if r.Errors == 0 || r.Errors >= r.Requests || !errors.Is(r.FirstErr, bad) {
		t.Errorf("errors %d of %d, first %v", r.Errors, r.Requests, r.FirstErr)
	}
	if r.P50 < time.Millisecond || r.P50 > r.P99 || r.P99 > r.Max {
		t.Errorf("percentiles out of order or below the 1ms each call sleeps: %v", r)
	}
	if r.PerSecond() <= 0 {
		t.Errorf("rate %v", r.PerSecond())
	}
}

func TestRunStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Result)
	go func() {
		done <- Run(ctx, Config{Workers: 2, Duration: time.Hour, Do: func(ctx context.Context, _ int) error {
			<-ctx.Done()
			return ctx.Err()
		}})
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run ignored its context")
	}
}
