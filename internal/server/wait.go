package server

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/writ-dev/writ/verifier/bearer"
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

// listRead begins a read of the feed or of the manifest: it reads the
// query's sequence number param (absent when not given) and its wait, and
// brings the server's snapshot up to date (an incremental read of a few
// rows at most), whose state names the document. A bad query or a failed
// refresh is answered, and ok is false.
func (s *Server) listRead(w http.ResponseWriter, r *http.Request, param string, absent int64) (held int64, wait time.Duration, epoch string, seq int64, ok bool) {
	if held, ok = seqParam(w, r, param, absent); !ok {
		return
	}
	if wait, ok = waitParam(w, r); !ok {
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	if err := s.snap.Refresh(r.Context()); err != nil {
		s.fail(w, r, err)
		return 0, 0, "", 0, false
	}
	return held, wait, s.snap.Epoch(), s.snap.Seq(), true
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
// and ends them at shutdown. One client network (an IPv4 address, an
// IPv6 /64, which one host commonly holds whole) holds at most a tenth of
// the places (perClient), so that one client, on a public feed anyone may
// read, cannot take them all and turn every other verifier's push back
// into polling.
type feedWaiters struct {
	max       int64
	perClient int
	n         atomic.Int64
	full      prometheus.Counter

	mu      sync.Mutex
	clients map[netip.Prefix]int // held reads by client network (clientNetwork)

	drainOnce sync.Once
	drain     chan struct{} // closed when the server shuts down
}

func newFeedWaiters(reg prometheus.Registerer, most int) *feedWaiters {
	w := &feedWaiters{max: int64(most), perClient: max(1, most/10), clients: map[netip.Prefix]int{}, drain: make(chan struct{}),
		full: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "writ_revocation_feed_waits_refused_total", Help: "Reads of the revocation feed asking to wait that were answered at once, as plain polls, because Config.MaxFeedWaiters reads were held already, or a tenth of them for the client's address, or the server was shutting down.",
		})}
	reg.MustRegister(w.full, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "writ_revocation_feed_waiters", Help: "Reads of the revocation feed held until the list changes (?wait=).",
	}, func() float64 { return float64(w.n.Load()) }))
	return w
}

// clientNetwork is the network whose held reads count together: the
// address itself for IPv4, its /64 for IPv6.
func clientNetwork(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	return netip.PrefixFrom(a, a.BitLen())
}

// enter takes a place for one more held read by client, if there is one
// and the server is not shutting down.
func (w *feedWaiters) enter(client netip.Prefix) bool {
	select {
	case <-w.drain:
		w.full.Inc()
		return false
	default:
	}
	w.mu.Lock()
	if w.clients[client] >= w.perClient {
		w.mu.Unlock()
		w.full.Inc()
		return false
	}
	w.clients[client]++
	w.mu.Unlock()
	if w.n.Add(1) > w.max {
		w.leave(client)
		w.full.Inc()
		return false
	}
	return true
}

// leave gives back the place that enter took for client.
func (w *feedWaiters) leave(client netip.Prefix) {
	w.n.Add(-1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.clients[client]--; w.clients[client] <= 0 {
		delete(w.clients, client)
	}
}

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
	// A request whose address cannot be read (none behind a proxy that
	// names none) shares one place count with every other such request.
	addr, _ := bearer.ClientAddr(r, s.cfg.TrustedProxies)
	client := clientNetwork(addr)
	if !s.waiters.enter(client) {
		return epoch, seq
	}
	defer s.waiters.leave(client)
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
