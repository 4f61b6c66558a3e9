// Package loadgen drives a service with a fixed number of closed-loop
// workers for a fixed time and reports throughput, latency percentiles and
// errors. scripts/load.go uses it against writ serve; see BENCHMARKS.md.
package loadgen

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Config is one measurement.
type Config struct {
	// Workers run Do in a loop, each waiting for its call to return before
	// the next (a closed loop: the offered load follows the service).
	Workers int
	// Duration is how long the measurement lasts, after Warmup.
	Duration time.Duration
	// Warmup runs the workers before measuring, so that connections are
	// open and caches warm; its calls are not counted.
	Warmup time.Duration
	// Do makes one request; an error counts as a failed request.
	Do func(ctx context.Context, worker int) error
}

// Result is what a measurement saw.
type Result struct {
	Requests int64         // calls completed within Duration, failed or not
	Errors   int64         // calls that returned an error
	FirstErr error         // the first of them
	Elapsed  time.Duration // the measured time
	// Latency percentiles over every measured call.
	P50, P90, P99, Max time.Duration
}

// PerSecond is the completed calls per second.
func (r Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

func (r Result) String() string {
	return fmt.Sprintf("%.0f req/s, p50 %v, p99 %v, max %v, %d errors of %d",
		r.PerSecond(), r.P50, r.P99, r.Max, r.Errors, r.Requests)
}

// Run performs the measurement described by cfg. It stops early when ctx
// is done; ctx is also passed to Do.
func Run(ctx context.Context, cfg Config) Result {
	if cfg.Workers < 1 {
		cfg.Workers = 1
	}
	start := time.Now()
	measureFrom := start.Add(cfg.Warmup)
	// Calls in flight at the end finish (uncounted) rather than being
	// cancelled, so that the service sees no aborted requests.
	end := measureFrom.Add(cfg.Duration)

	type tally struct {
		lat      []time.Duration
		errors   int64
		firstErr error
	}
	tallies := make([]tally, cfg.Workers)
	var wg sync.WaitGroup
	for w := range cfg.Workers {
		wg.Go(func() {
			t := &tallies[w]
			for {
				t0 := time.Now()
				if !t0.Before(end) || ctx.Err() != nil {
					return
				}
				err := cfg.Do(ctx, w)
				t1 := time.Now()
				if t0.Before(measureFrom) || t1.After(end) {
					// Started during warm-up, or cut short by the end.
					continue
				}
				t.lat = append(t.lat, t1.Sub(t0))
				if err != nil {
					if t.errors == 0 {
						t.firstErr = err
					}
					t.errors++
				}
			}
		})
	}
	wg.Wait()

	var r Result
	var all []time.Duration
	for _, t := range tallies {
		all = append(all, t.lat...)
		r.Errors += t.errors
		if r.FirstErr == nil {
			r.FirstErr = t.firstErr
		}
	}
	r.Requests = int64(len(all))
	r.Elapsed = cfg.Duration
	if now := time.Now(); now.Before(end) { // ctx ended early
		r.Elapsed = now.Sub(measureFrom)
	}
	if len(all) > 0 {
		slices.Sort(all)
		r.P50, r.P90, r.P99 = Percentile(all, 50), Percentile(all, 90), Percentile(all, 99)
		r.Max = all[len(all)-1]
	}
	return r
}

// Percentile returns the p-th percentile of sorted by the nearest-rank
// method: the smallest value that at least p% of the values do not exceed.
func Percentile(sorted []time.Duration, p int) time.Duration {
	rank := (len(sorted)*p + 99) / 100 // ceil(n·p/100)
	return sorted[max(rank, 1)-1]
}
