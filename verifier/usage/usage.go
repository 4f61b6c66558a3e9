// Package usage reports the uses of tokens that a verifier sees to writ
// serve (POST /v1/usage, authenticated by a writ token with the scope
// writ:usage), so that writ knows when, from where and how each token was
// used, and who still presents a revoked or expired one.
//
// A [Reporter] is a verifier.UsageRecorder: set it as the verifier's
// Config.Usage (and package bearer reports authorization refusals through
// it too). RecordUse only copies the use into a bounded buffer; a
// goroutine of the Reporter sends the buffer in batches, in the order the
// uses were recorded, and retries with exponential backoff while writ
// serve is away. When the buffer is full the oldest uses are dropped and
// counted ([Reporter.Stats]): reporting never slows or blocks Verify.
//
// # Memory
//
// The buffer holds at most Config.Buffer uses, about 100 bytes each
// (a jti longer than 24 bytes adds a copy of it), and grows to that bound
// only while writ serve does not keep up. One batch of at most
// Config.BatchSize uses more is held while it is being sent.
package usage

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	wire "github.com/writ-dev/writ/internal/usage"
	"github.com/writ-dev/writ/verifier"
)

// Defaults of Config.
const (
	DefaultBatchSize     = 1000
	DefaultFlushInterval = time.Second
	DefaultBuffer        = 100_000
	DefaultMinBackoff    = time.Second
	DefaultMaxBackoff    = time.Minute
)

// MaxBatchSize is the most uses one report holds.
const MaxBatchSize = 10_000

// Config configures a Reporter.
type Config struct {
	// URL is writ serve's usage endpoint, its base URL followed by
	// /v1/usage, such as https://writ.example.com/v1/usage. Required; it
	// must be https, or http to a loopback address (the token is sent
	// with every report).
	URL string
	// Token returns the bearer token that authenticates reports: a writ
	// token with the scope writ:usage. Required. It is called before every
	// attempt, so it may return a renewed token; see StaticToken.
	Token func(ctx context.Context) (string, error)
	// HTTPClient sends the reports; nil means a client with a 30 s
	// timeout: longer than writ serve takes to answer a report (at most
	// 15 s: 5 to read it, 5 to wait for its turn, 5 to record it), since a report given up on and sent again while the server
	// records it may be counted twice. Give one a Timeout too: while a report hangs, the next
	// wait (and RecordUse, which never waits, drops the oldest when the
	// buffer fills). Redirects are never followed.
	HTTPClient *http.Client
	// BatchSize is the most uses one report holds: 1 to MaxBatchSize; zero
	// means DefaultBatchSize, and one above Buffer means Buffer. A batch is
	// sent as soon as it is full.
	BatchSize int
	// FlushInterval is the longest a use waits before it is sent with
	// those recorded since the last report; zero means
	// DefaultFlushInterval.
	FlushInterval time.Duration
	// Buffer is the most uses waiting to be sent; zero means
	// DefaultBuffer. When it is full, RecordUse drops the oldest.
	Buffer int
	// MinBackoff and MaxBackoff bound the wait before a failed report is
	// sent again: it starts at MinBackoff, doubles with each failure up
	// to MaxBackoff, is jittered, and is at least the server's Retry-After
	// (up to MaxBackoff). Zero means DefaultMinBackoff and
	// DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// OnError, when set, is called from the Reporter's goroutine with each
	// failure to send a report: an error wrapping ErrRefused (the batch
	// is dropped), ErrStatus, or that of Token or the HTTP client (the
	// batch is sent again). It never holds the token.
	OnError func(error)
	// Send, when set, takes the place of the HTTP report: each batch is
	// given to it, for a process that records the uses itself (writ serve
	// records those of the tokens it verifies so). URL, Token and
	// HTTPClient must then be unset. An error wrapping ErrRefused drops
	// the batch; any other is retried as a failed report is. Send must not
	// keep uses, nor its strings, after it returns.
	Send func(ctx context.Context, uses []verifier.Use) error
}

// StaticToken returns a Config.Token that always returns token.
func StaticToken(token string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return token, nil }
}

// Stats counts what a Reporter did with the uses it was given.
type Stats struct {
	Recorded uint64 // uses RecordUse took into the buffer
	Sent     uint64 // uses writ serve accepted
	Dropped  uint64 // uses pushed out of a full buffer, or recorded after Close
	Refused  uint64 // uses in batches writ serve refused as malformed (ErrRefused)
	Invalid  uint64 // uses RecordUse ignored: a jti, outcome or time no report may carry
	Failures uint64 // failed attempts to send a batch, each followed by a retry
	Pending  int    // uses not yet sent: in the buffer and in the batch being sent
}

// Reporter batches uses and sends them to writ serve. It is safe for
// concurrent use.
type Reporter struct {
	url      string
	token    func(context.Context) (string, error)
	client   *http.Client
	batch    int
	interval time.Duration
	minWait  time.Duration
	maxWait  time.Duration
	onError  func(error)
	sendFn   func(context.Context, []verifier.Use) error

	wake    chan struct{} // a batch is full; capacity 1
	closing chan struct{} // closed by Close: send what is left, then stop
	stopped chan struct{} // closed when the goroutine has returned
	cancel  context.CancelFunc
	once    sync.Once

	mu       sync.Mutex
	ring     []entry // pending uses, oldest at head; grows up to max
	head, n  int
	max      int
	inflight int // uses in the batch being sent
	closed   bool
	stats    Stats
}

// shortJTI is the longest jti an entry holds without a copy on the heap:
// writ's are 22 bytes.
const shortJTI = 24

// entry is one pending use. Its jti is copied (the verifier's string
// shares the memory of the token's claims, which the buffer must not keep
// alive): into short when it fits, else into long.
type entry struct {
	at      int64 // unix seconds: reports have second precision
	client  netip.Addr
	outcome string
	long    string
	jtiLen  uint8 // of short; 0 when the jti is in long
	short   [shortJTI]byte
}

var _ verifier.UsageRecorder = (*Reporter)(nil)

// NewReporter checks cfg and starts the Reporter's goroutine. Stop it
// with Close.
func NewReporter(cfg Config) (*Reporter, error) {
	if cfg.Send != nil {
		if cfg.URL != "" || cfg.Token != nil || cfg.HTTPClient != nil {
			return nil, errors.New("usage: Config.Send goes without URL, Token and HTTPClient")
		}
	} else if err := checkURL(cfg.URL); err != nil {
		return nil, err
	}
	r := &Reporter{sendFn: cfg.Send,
		url: cfg.URL, token: cfg.Token, client: cfg.HTTPClient,
		batch: cfg.BatchSize, interval: cfg.FlushInterval, max: cfg.Buffer,
		minWait: cfg.MinBackoff, maxWait: cfg.MaxBackoff, onError: cfg.OnError,
		wake: make(chan struct{}, 1), closing: make(chan struct{}), stopped: make(chan struct{}),
	}
	switch {
	case cfg.Token == nil && cfg.Send == nil:
		return nil, errors.New("usage: Config.Token is required")
	case cfg.BatchSize < 0 || cfg.BatchSize > MaxBatchSize:
		return nil, fmt.Errorf("usage: Config.BatchSize %d is outside 1 to %d", cfg.BatchSize, MaxBatchSize)
	case cfg.FlushInterval < 0:
		return nil, fmt.Errorf("usage: Config.FlushInterval %v is negative", cfg.FlushInterval)
	case cfg.Buffer < 0:
		return nil, fmt.Errorf("usage: Config.Buffer %d is negative", cfg.Buffer)
	case cfg.MinBackoff < 0 || cfg.MaxBackoff < 0:
		return nil, errors.New("usage: Config.MinBackoff and MaxBackoff must not be negative")
	}
	r.batch = cmp.Or(r.batch, DefaultBatchSize)
	r.interval = cmp.Or(r.interval, DefaultFlushInterval)
	r.max = cmp.Or(r.max, DefaultBuffer)
	r.minWait = cmp.Or(r.minWait, DefaultMinBackoff)
	r.maxWait = cmp.Or(r.maxWait, DefaultMaxBackoff)
	r.batch = min(r.batch, r.max) // a full buffer is a full batch
	if r.minWait > r.maxWait {
		return nil, fmt.Errorf("usage: Config.MinBackoff %v is above MaxBackoff %v", r.minWait, r.maxWait)
	}
	if r.client == nil {
		r.client = &http.Client{Timeout: 30 * time.Second}
	}
	c := *r.client // the caller's client is not changed
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	r.client = &c
	r.ring = make([]entry, min(r.max, 1024))
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.run(ctx)
	return r, nil
}

// checkURL refuses a URL to which a token must not be sent.
func checkURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return errors.New("usage: Config.URL is required")
	case err != nil || u.Host == "" || u.Opaque != "":
		return errors.New("usage: Config.URL is not an absolute http or https URL")
	case u.User != nil:
		return errors.New("usage: Config.URL must not hold credentials")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("usage: Config.URL %q is http to a host that is not loopback: the token would travel in clear", u.Redacted())
	}
	return fmt.Errorf("usage: Config.URL %q is neither https nor http", u.Redacted())
}

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// RecordUse adds u to the buffer, dropping the oldest use when the buffer
// is full, and returns at once: it never waits for the network. A use
// that no report may carry (a jti must be 1 to 128 printable ASCII
// characters; an outcome [a-z0-9_], starting with a letter, at most 32
// long; the time within the years 1 to 9999) is counted as Invalid and
// not sent, rather than have writ serve refuse its whole batch. After
// Close, uses are counted as Dropped.
func (r *Reporter) RecordUse(u verifier.Use) {
	y := u.At.UTC().Year() // RFC 3339 has four-digit years
	valid := wire.IsJTI(u.JTI) && wire.IsOutcome(u.Outcome) && 0 < y && y < 10000
	var e entry
	if valid {
		e = entry{at: u.At.Unix(), client: u.Client, outcome: u.Outcome}
		if len(u.JTI) <= shortJTI {
			e.jtiLen = uint8(copy(e.short[:], u.JTI))
		} else {
			e.long = strings.Clone(u.JTI)
		}
	}
	r.mu.Lock()
	switch {
	case !valid:
		r.stats.Invalid++
	case r.closed:
		r.stats.Dropped++
	default:
		r.push(&e)
	}
	full := r.n == r.batch
	r.mu.Unlock()
	if full {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// push appends e to the ring, which it grows up to max, else makes room
// by dropping the oldest use. r.mu is held.
func (r *Reporter) push(e *entry) {
	if r.n == len(r.ring) {
		if len(r.ring) < r.max {
			ring := make([]entry, min(2*len(r.ring), r.max))
			r.copyOut(ring, r.n)
			r.ring, r.head = ring, 0
		} else {
			r.ring[r.head] = entry{}
			r.head = (r.head + 1) % len(r.ring)
			r.n--
			r.stats.Dropped++
		}
	}
	r.ring[(r.head+r.n)%len(r.ring)] = *e
	r.n++
	r.stats.Recorded++
}

// copyOut copies the k oldest uses of the ring into dst, in order. r.mu
// is held.
func (r *Reporter) copyOut(dst []entry, k int) {
	c := copy(dst[:k], r.ring[r.head:min(r.head+k, len(r.ring))])
	copy(dst[c:k], r.ring[:k-c])
}

// take moves up to r.batch of the oldest uses into dst[:0] and returns
// it, or none if onlyFull and fewer than r.batch are pending; they then
// count as in flight until the sender is done with them.
func (r *Reporter) take(dst []entry, onlyFull bool) []entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := min(r.n, r.batch)
	if onlyFull && k < r.batch {
		k = 0
	}
	dst = slices.Grow(dst[:0], k)[:k]
	r.copyOut(dst, k)
	for i := range k { // let go of long jtis
		r.ring[(r.head+i)%len(r.ring)].long = ""
	}
	r.head = (r.head + k) % len(r.ring)
	r.n -= k
	r.inflight = k
	return dst
}

// Stats returns what the Reporter has done so far.
func (r *Reporter) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.Pending = r.n + r.inflight
	return s
}

// Close sends the uses still pending, retrying as long as ctx allows,
// stops the Reporter's goroutine and returns nil, or ctx's error when
// ctx ended first (the uses not sent are then lost: see Stats.Pending).
// Uses recorded after Close are dropped. Later calls return at once.
func (r *Reporter) Close(ctx context.Context) error {
	r.once.Do(func() {
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		close(r.closing)
	})
	select {
	case <-r.stopped:
		return nil
	case <-ctx.Done():
		r.cancel()
		<-r.stopped
		return ctx.Err()
	}
}

// run is the Reporter's goroutine: it sends full batches as soon as
// they are, and everything pending each FlushInterval and at Close.
func (r *Reporter) run(ctx context.Context) {
	defer close(r.stopped)
	defer r.cancel()
	tick := time.NewTicker(r.interval)
	defer tick.Stop()
	s := sender{r: r, batch: make([]entry, 0, r.batch), uses: make([]wire.Use, 0, r.batch)}
	closing := false
	for {
		onlyFull := false
		if !closing {
			select {
			case <-tick.C:
			case <-r.wake:
				onlyFull = true
			case <-r.closing:
				closing = true
			}
		}
		for {
			s.batch = r.take(s.batch, onlyFull)
			if len(s.batch) == 0 {
				break
			}
			if !s.send(ctx) {
				return
			}
		}
		if closing {
			return
		}
	}
}

// sender holds the buffers of the Reporter's goroutine.
type sender struct {
	r     *Reporter
	batch []entry
	uses  []wire.Use
	body  []byte
	own   []verifier.Use // the batch for Config.Send
}

// send sends s.batch until writ serve accepts or refuses it, backing off
// between attempts, and reports false when ctx ended first.
func (s *sender) send(ctx context.Context) bool {
	r := s.r
	s.encode()
	wait := r.minWait
	for {
		var retryAfter time.Duration
		var err error
		if r.sendFn != nil {
			err = r.sendFn(ctx, s.own)
		} else {
			retryAfter, err = r.post(ctx, s.body)
		}
		if err == nil || errors.Is(err, ErrRefused) {
			r.mu.Lock()
			if err == nil {
				r.stats.Sent += uint64(len(s.batch))
			} else {
				r.stats.Refused += uint64(len(s.batch))
			}
			r.inflight = 0
			r.mu.Unlock()
			if err != nil && r.onError != nil {
				r.onError(err)
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		r.mu.Lock()
		r.stats.Failures++
		r.mu.Unlock()
		if r.onError != nil {
			r.onError(err)
		}
		// Jitter: a random wait in [wait/2, wait), so that verifiers that
		// lost the server together do not come back together.
		d := wait/2 + rand.N(wait/2+1)
		d = max(d, min(retryAfter, r.maxWait))
		wait = min(2*wait, r.maxWait)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
}

// encode writes the report of s.batch into s.body, or for Config.Send
// into s.own.
func (s *sender) encode() {
	s.uses, s.own = s.uses[:0], s.own[:0]
	for i := range s.batch {
		e := &s.batch[i]
		jti := e.long
		if e.jtiLen > 0 {
			// No copy: Append copies it, and s.batch is not written
			// before the next encode.
			jti = unsafe.String(&e.short[0], e.jtiLen)
		}
		if s.r.sendFn != nil {
			s.own = append(s.own, verifier.Use{JTI: jti, At: time.Unix(e.at, 0), Client: e.client, Outcome: e.outcome})
			continue
		}
		s.uses = append(s.uses, wire.Use{JTI: jti, At: time.Unix(e.at, 0), Client: e.client, Outcome: e.outcome})
	}
	if s.r.sendFn == nil {
		s.body = wire.Append(s.body[:0], s.uses)
	}
}

// post sends one report and returns nil when writ serve accepted it, an
// error wrapping ErrRefused when it refused it as malformed, and any other
// error with the wait that Retry-After asks for, if any.
func (r *Reporter) post(ctx context.Context, body []byte) (time.Duration, error) {
	token, err := r.token(ctx)
	if err != nil {
		return 0, fmt.Errorf("usage: token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("usage: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("usage: send: %w", err)
	}
	// Read a little of the answer so that the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK, http.StatusAccepted, http.StatusNoContent:
		return 0, nil
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return 0, fmt.Errorf("%w: %s by %s", ErrRefused, resp.Status, redacted(req.URL))
	}
	return retryAfter(resp.Header.Get("Retry-After"), time.Now()), fmt.Errorf("%w: %s from %s", ErrStatus, resp.Status, redacted(req.URL))
}

// redacted is u's host and path, for errors.
func redacted(u *url.URL) string { return u.Host + u.Path }

// retryAfter reads a Retry-After header (RFC 9110 §10.2.3): seconds, or
// an HTTP date, in which case now tells the wait. It returns 0 for a value
// that is absent, malformed or in the past.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.ParseUint(h, 10, 32); err == nil {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
