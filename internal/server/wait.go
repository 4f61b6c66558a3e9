package server

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// FeedMaxWait bounds the wait of a read of the revocation feed
// (?wait=SECONDS): the longest the server holds a read that finds nothing
// after its since. It stays below the 60 s after which common proxies and
// load balancers (nginx's proxy_read_timeout, an AWS ALB's idle timeout)
// cut a request that has not answered.
const FeedMaxWait = 30 * time.Second

// DefaultMaxFeedWaiters is Config.MaxFeedWaiters when zero.
const DefaultMaxFeedWaiters = 10_000

// waitParam reads the wait parameter of a read of the feed or the
// manifest: a whole number of seconds from 0 to FeedMaxWait, zero when
// absent. A bad one is answered 400, and ok is false.
func waitParam(w http.ResponseWriter, r *http.Request) (wait time.Duration, ok bool) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return 0, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > int(FeedMaxWait/time.Second) {
		writeError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("wait must be a whole number of seconds from 0 to %d", int(FeedMaxWait/time.Second)))
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

// seqParam reads the query parameter name of r, a sequence number, absent
// when it is not given. A bad one is answered 400, and ok is false.
func seqParam(w http.ResponseWriter, r *http.Request, name string, absent int64) (seq int64, ok bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return absent, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		writeError(w, http.StatusBadRequest, "invalid_request", name+" must be a sequence number")
		return 0, false
	}
	return n, true
}

// feedWaiters counts the reads of the feed held until the list changes,
// and ends them at shutdown.
type feedWaiters struct {
	max  int64
	n    atomic.Int64
	full prometheus.Counter

	drainOnce sync.Once
	drain     chan struct{} // closed when the server shuts down
}

func newFeedWaiters(reg prometheus.Registerer, max int) *feedWaiters {
	w := &feedWaiters{max: int64(max), drain: make(chan struct{}),
		full: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "writ_revocation_feed_waits_refused_total", Help: "Reads of the revocation feed asking to wait that were answered at once, as plain polls, because Config.MaxFeedWaiters reads were held already, or the server was shutting down.",
		})}
	reg.MustRegister(w.full, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "writ_revocation_feed_waiters", Help: "Reads of the revocation feed held until the list changes (?wait=).",
	}, func() float64 { return float64(w.n.Load()) }))
	return w
}

// enter takes a place for one more held read, if there is one and the
// server is not shutting down.
func (w *feedWaiters) enter() bool {
	select {
	case <-w.drain:
		w.full.Inc()
		return false
	default:
	}
	if w.n.Add(1) > w.max {
		w.n.Add(-1)
		w.full.Inc()
		return false
	}
	return true
}

func (w *feedWaiters) leave() { w.n.Add(-1) }

// end answers every held read at once, and every later one without
// holding it: the server is shutting down, and graceful shutdown waits
// for requests in flight.
func (w *feedWaiters) end() { w.drainOnce.Do(func() { close(w.drain) }) }

// awaitChange holds a read of the feed or of the manifest, which found
// the list at (epoch, seq), until the server's snapshot moves on (a
// broadcast: no waiter polls), wait passes, the server shuts down or the
// client leaves, and returns the snapshot's state then. Beyond
// Config.MaxFeedWaiters held reads it returns at once: the read is
// answered as a plain poll.
func (s *Server) awaitChange(w http.ResponseWriter, r *http.Request, epoch string, seq int64, wait time.Duration) (string, int64) {
	if !s.waiters.enter() {
		return epoch, seq
	}
	defer s.waiters.leave()
	// The answer may come at the end of the wait: the server's write
	// timeout, which counts from the request, counts from then. (A
	// writer without deadlines, in tests, has no timeout to extend.)
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + writeTimeout))
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		changed := s.snap.Changed()
		if e, q := s.snap.Epoch(), s.snap.Seq(); e != epoch || q != seq {
			return e, q
		}
		select {
		case <-changed:
		case <-timer.C:
			return epoch, seq
		case <-s.waiters.drain:
			return epoch, seq
		case <-r.Context().Done():
			return epoch, seq
		}
	}
}
