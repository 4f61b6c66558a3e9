package usage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	wire "github.com/writ-dev/writ/internal/usage"
	"github.com/writ-dev/writ/verifier"
)

const testToken = "secret-usage-token"

// sink is a writ serve stand-in on loopback: it checks the token, decodes
// each report with the wire format's parser and keeps the uses it
// accepts. answer, when set, decides the status of each request first.
type sink struct {
	t      *testing.T
	srv    *httptest.Server
	answer func(n int, uses []wire.Use, w http.ResponseWriter) bool // true: answered

	mu       sync.Mutex
	requests int
	uses     []wire.Use
}

func newSink(t *testing.T, answer func(n int, uses []wire.Use, w http.ResponseWriter) bool) *sink {
	s := &sink{t: t, answer: answer}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, wire.MaxBody+1))
	if err != nil {
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || r.URL.Path != "/v1/usage" {
		s.t.Errorf("%s %s %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	}
	if r.Header.Get("Authorization") != "Bearer "+testToken {
		http.Error(w, "no", http.StatusUnauthorized)
		return
	}
	uses, err := wire.Parse(body)
	if err != nil {
		s.t.Errorf("report does not parse: %v", err)
		http.Error(w, "malformed", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.requests++
	n := s.requests
	s.mu.Unlock()
	if s.answer != nil && s.answer(n, uses, w) {
		return
	}
	s.mu.Lock()
	s.uses = append(s.uses, uses...)
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// jtis returns the jtis of the uses accepted so far.
func (s *sink) jtis() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.uses))
	for i, u := range s.uses {
		out[i] = u.JTI
	}
	return out
}

// newTestReporter returns a reporter to s with fast backoff, changed by mod.
func newTestReporter(t *testing.T, s *sink, mod func(*Config)) *Reporter {
	t.Helper()
	cfg := Config{URL: s.srv.URL + "/v1/usage", Token: StaticToken(testToken), FlushInterval: time.Hour,
		MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	r, err := NewReporter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = r.Close(ctx)
	})
	return r
}

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func use(i int) verifier.Use {
	return verifier.Use{JTI: fmt.Sprintf("jti-%05d", i), At: t0.Add(time.Duration(i) * time.Second),
		Client: netip.MustParseAddr("192.0.2.1"), Outcome: verifier.OutcomeAccepted}
}

func jtiRange(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, use(i).JTI)
	}
	return out
}

// receive returns what c gives, failing the test if nothing comes within
// a generous time: a guard against a wait that would never end, not a
// measure.
func receive[T any](t *testing.T, what string, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: nothing within 30s", what)
		panic("unreachable")
	}
}

func closeReporter(t *testing.T, r *Reporter) {
	t.Helper()
	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func checkJTIs(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("server got %d uses %v\nwant %d %v", len(got), got, len(want), want)
	}
}

func checkStats(t *testing.T, got, want Stats) {
	t.Helper()
	if got != want {
		t.Fatalf("Stats = %+v\nwant %+v", got, want)
	}
}

// TestBatches: uses arrive in order, in batches of at most BatchSize, with
// every field; Close sends what the flush interval has not.
func TestBatches(t *testing.T) {
	var sizes []int
	s := newSink(t, func(_ int, uses []wire.Use, _ http.ResponseWriter) bool {
		sizes = append(sizes, len(uses)) // one request at a time: no race
		return false
	})
	r := newTestReporter(t, s, func(c *Config) { c.BatchSize = 4 })
	long := verifier.Use{JTI: strings.Repeat("L", wire.MaxJTI), At: t0, Client: netip.MustParseAddr("2001:db8::9"), Outcome: verifier.OutcomeRevoked}
	for i := range 9 {
		r.RecordUse(use(i))
	}
	r.RecordUse(long)
	closeReporter(t, r)
	checkJTIs(t, s.jtis(), append(jtiRange(0, 9), long.JTI))
	if fmt.Sprint(sizes) != "[4 4 2]" {
		t.Fatalf("batch sizes %v, want [4 4 2]", sizes)
	}
	got := s.uses[9]
	if got.Client != long.Client || !got.At.Equal(long.At) || got.Outcome != long.Outcome {
		t.Fatalf("use %+v, want %+v", got, long)
	}
	if u := s.uses[3]; u.Client != use(3).Client || !u.At.Equal(use(3).At) || u.Outcome != verifier.OutcomeAccepted {
		t.Fatalf("use %+v, want %+v", u, use(3))
	}
	checkStats(t, r.Stats(), Stats{Recorded: 10, Sent: 10})
}

// TestFlushInterval: uses are sent within the flush interval, without a
// full batch or Close.
func TestFlushInterval(t *testing.T) {
	got := make(chan []wire.Use, 1)
	s := newSink(t, func(_ int, uses []wire.Use, _ http.ResponseWriter) bool {
		got <- uses
		return false
	})
	r := newTestReporter(t, s, func(c *Config) { c.FlushInterval = 10 * time.Millisecond })
	r.RecordUse(use(1))
	if uses := receive(t, "the report of a use", got); len(uses) != 1 || uses[0].JTI != use(1).JTI {
		t.Fatalf("report %+v", uses)
	}
}

// TestNeverBlocks: while writ serve hangs on a report, RecordUse still
// returns; the buffer keeps the newest Buffer uses, drops and counts the
// oldest, and never grows past its bound. When the server comes back,
// what the buffer held arrives, in order.
func TestNeverBlocks(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	s := newSink(t, func(n int, _ []wire.Use, _ http.ResponseWriter) bool {
		if n == 1 {
			close(arrived)
			<-release
		}
		return false
	})
	var thaw sync.Once
	t.Cleanup(func() { thaw.Do(func() { close(release) }) }) // before the sink closes, which waits for the hung report
	const batch, buffer = 3, 10
	r := newTestReporter(t, s, func(c *Config) { c.BatchSize = batch; c.Buffer = buffer })
	for i := range batch { // a full batch: sent at once, and the server hangs
		r.RecordUse(use(i))
	}
	receive(t, "the first report", arrived)
	for i := batch; i < 1000; i++ {
		r.RecordUse(use(i))
		r.mu.Lock()
		held, entries := r.n, len(r.ring)
		r.mu.Unlock()
		if entries > buffer || held > buffer {
			t.Fatalf("buffer of %d holds %d uses in %d entries", buffer, held, entries)
		}
	}
	checkStats(t, r.Stats(), Stats{Recorded: 1000, Dropped: 1000 - batch - buffer, Pending: batch + buffer})
	thaw.Do(func() { close(release) })
	closeReporter(t, r)
	checkJTIs(t, s.jtis(), append(jtiRange(0, batch), jtiRange(1000-buffer, 1000)...))
	checkStats(t, r.Stats(), Stats{Recorded: 1000, Dropped: 1000 - batch - buffer, Sent: batch + buffer})
}

// TestRetry: failures of every kind that may pass (5xx, 429, 401 and 403,
// a connection cut, a token that cannot be had) are retried with backoff
// until the server accepts: nothing within the buffer is lost or sent
// twice, and OnError hears each failure without the token.
func TestRetry(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fail    func(w http.ResponseWriter)
		tokenOK bool
		want    error
	}{
		{"503", func(w http.ResponseWriter) { http.Error(w, "down", http.StatusServiceUnavailable) }, true, ErrStatus},
		{"500", func(w http.ResponseWriter) { http.Error(w, "oops", http.StatusInternalServerError) }, true, ErrStatus},
		{"429 with Retry-After", func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "slow", http.StatusTooManyRequests)
		}, true, ErrStatus},
		{"401", func(w http.ResponseWriter) { http.Error(w, "who", http.StatusUnauthorized) }, true, ErrStatus},
		{"403", func(w http.ResponseWriter) { http.Error(w, "scope", http.StatusForbidden) }, true, ErrStatus},
		{"redirect, not followed", func(w http.ResponseWriter) {
			w.Header().Set("Location", "/elsewhere")
			w.WriteHeader(http.StatusTemporaryRedirect)
		}, true, ErrStatus},
		{"connection cut", func(w http.ResponseWriter) { panic(http.ErrAbortHandler) }, true, nil},
		{"token unavailable", nil, false, errTokenDown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const failures = 3
			s := newSink(t, func(n int, _ []wire.Use, w http.ResponseWriter) bool {
				if tc.fail != nil && n <= failures {
					tc.fail(w)
					return true
				}
				return false
			})
			var errs []error // OnError runs on the reporter's goroutine only
			tokenCalls := 0
			r := newTestReporter(t, s, func(c *Config) {
				c.BatchSize = 2
				c.OnError = func(err error) { errs = append(errs, err) }
				c.Token = func(context.Context) (string, error) {
					tokenCalls++
					if !tc.tokenOK && tokenCalls <= failures {
						return "", errTokenDown
					}
					return testToken, nil
				}
			})
			for i := range 5 {
				r.RecordUse(use(i))
			}
			closeReporter(t, r)
			checkJTIs(t, s.jtis(), jtiRange(0, 5))
			checkStats(t, r.Stats(), Stats{Recorded: 5, Sent: 5, Failures: failures})
			if len(errs) != failures {
				t.Fatalf("OnError heard %d errors, want %d: %v", len(errs), failures, errs)
			}
			for _, err := range errs {
				if tc.want != nil && !errors.Is(err, tc.want) {
					t.Errorf("error %v, want %v", err, tc.want)
				}
				if strings.Contains(err.Error(), testToken) {
					t.Errorf("error %q holds the token", err)
				}
			}
		})
	}
}

var errTokenDown = errors.New("token source down")

// TestRefusedBatchDropped: a batch that writ serve refuses as malformed is
// dropped and counted; the next batches go on.
func TestRefusedBatchDropped(t *testing.T) {
	for _, status := range []int{400, 413, 422} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			s := newSink(t, func(n int, _ []wire.Use, w http.ResponseWriter) bool {
				if n == 2 {
					http.Error(w, "malformed", status)
					return true
				}
				return false
			})
			var errs []error
			r := newTestReporter(t, s, func(c *Config) {
				c.BatchSize = 2
				c.OnError = func(err error) { errs = append(errs, err) }
			})
			for i := range 6 {
				r.RecordUse(use(i))
			}
			closeReporter(t, r)
			checkJTIs(t, s.jtis(), append(jtiRange(0, 2), jtiRange(4, 6)...))
			checkStats(t, r.Stats(), Stats{Recorded: 6, Sent: 4, Refused: 2})
			if len(errs) != 1 || !errors.Is(errs[0], ErrRefused) || strings.Contains(errs[0].Error(), testToken) {
				t.Fatalf("OnError heard %v, want one ErrRefused", errs)
			}
		})
	}
}

// TestInvalidUses: a use no report may carry is counted, not sent, and
// does not cost its batch.
func TestInvalidUses(t *testing.T) {
	s := newSink(t, nil)
	r := newTestReporter(t, s, nil)
	bad := []verifier.Use{
		{JTI: "", At: t0, Outcome: verifier.OutcomeAccepted},
		{JTI: "a b", At: t0, Outcome: verifier.OutcomeAccepted},
		{JTI: strings.Repeat("a", wire.MaxJTI+1), At: t0, Outcome: verifier.OutcomeAccepted},
		{JTI: "ok", At: t0, Outcome: ""},
		{JTI: "ok", At: t0, Outcome: "Accepted"},
	}
	r.RecordUse(use(0))
	for _, u := range bad {
		r.RecordUse(u)
	}
	r.RecordUse(use(1))
	closeReporter(t, r)
	checkJTIs(t, s.jtis(), jtiRange(0, 2))
	checkStats(t, r.Stats(), Stats{Recorded: 2, Sent: 2, Invalid: uint64(len(bad))})
}

// TestClose: Close returns ctx's error when ctx ends while writ serve
// hangs, and uses recorded after Close are dropped.
func TestClose(t *testing.T) {
	release := make(chan struct{})
	s := newSink(t, func(int, []wire.Use, http.ResponseWriter) bool {
		<-release
		return false
	})
	defer close(release)
	r := newTestReporter(t, s, nil)
	r.RecordUse(use(0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close = %v, want context.Canceled", err)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	r.RecordUse(use(1))
	if st := r.Stats(); st.Dropped != 1 || st.Sent != 0 {
		t.Fatalf("Stats = %+v", st)
	}
}

// TestConcurrent: under -race, many goroutines record while batches are
// sent; every use recorded is sent or counted dropped.
func TestConcurrent(t *testing.T) {
	s := newSink(t, nil)
	r := newTestReporter(t, s, func(c *Config) { c.BatchSize = 50; c.Buffer = 200 })
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				r.RecordUse(use(g*1000 + i))
			}
		})
	}
	wg.Wait()
	closeReporter(t, r)
	st := r.Stats()
	if st.Recorded != 4000 || st.Sent+st.Dropped != 4000 || st.Pending != 0 || int(st.Sent) != len(s.jtis()) {
		t.Fatalf("Stats = %+v, server got %d", st, len(s.jtis()))
	}
}

func TestMaxBatchSize(t *testing.T) {
	if MaxBatchSize != wire.MaxUses {
		t.Fatalf("MaxBatchSize %d, but a report holds up to %d uses", MaxBatchSize, wire.MaxUses)
	}
}

func TestNewReporterRefuses(t *testing.T) {
	tok := StaticToken("t")
	for name, cfg := range map[string]Config{
		"no URL":                {Token: tok},
		"relative URL":          {URL: "/v1/usage", Token: tok},
		"ftp":                   {URL: "ftp://writ.example/v1/usage", Token: tok},
		"http, not loopback":    {URL: "http://writ.example/v1/usage", Token: tok},
		"credentials in URL":    {URL: "https://u:p@writ.example/v1/usage", Token: tok},
		"no token":              {URL: "https://writ.example/v1/usage"},
		"batch too large":       {URL: "https://writ.example/v1/usage", Token: tok, BatchSize: MaxBatchSize + 1},
		"negative buffer":       {URL: "https://writ.example/v1/usage", Token: tok, Buffer: -1},
		"negative interval":     {URL: "https://writ.example/v1/usage", Token: tok, FlushInterval: -1},
		"min above max backoff": {URL: "https://writ.example/v1/usage", Token: tok, MinBackoff: time.Hour, MaxBackoff: time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			if r, err := NewReporter(cfg); err == nil {
				_ = r.Close(context.Background())
				t.Fatal("NewReporter accepted it")
			} else if strings.Contains(err.Error(), ":p@") {
				t.Fatalf("error %q shows the URL's password", err)
			}
		})
	}
	for _, u := range []string{"https://writ.example/v1/usage", "http://127.0.0.1:8080/v1/usage", "http://[::1]:8080/v1/usage", "http://localhost/v1/usage"} {
		r, err := NewReporter(Config{URL: u, Token: tok})
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		_ = r.Close(context.Background())
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for h, want := range map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"120":                           2 * time.Minute,
		"-1":                            0,
		"soon":                          0,
		"99999999999":                   0,
		"Mon, 30 Nov 2026 12:00:30 GMT": 30 * time.Second,
		"Mon, 30 Nov 2026 11:00:00 GMT": 0,
	} {
		if got := retryAfter(h, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", h, got, want)
		}
	}
}

// FuzzRecordUse: whatever a recorder is given, the reports it sends parse.
func FuzzRecordUse(f *testing.F) {
	f.Add("AAECAwQFBgcICQoLDA0ODw", "accepted", int64(1_800_000_000), []byte{192, 0, 2, 1})
	f.Add(strings.Repeat("x", 40), "revoked", int64(-1), []byte{})
	f.Add("é", "Bad", int64(0), []byte{0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, jti, outcome string, at int64, ip []byte) {
		client, _ := netip.AddrFromSlice(ip)
		r := &Reporter{batch: 10, max: 10, ring: make([]entry, 2), wake: make(chan struct{}, 1)}
		r.RecordUse(verifier.Use{JTI: jti, At: time.Unix(at, 0), Client: client, Outcome: outcome})
		s := sender{r: r}
		s.batch = r.take(nil, false)
		if len(s.batch) == 0 {
			return
		}
		s.encode()
		uses, err := wire.Parse(s.body)
		if err != nil {
			t.Fatalf("report of %q %q at %d does not parse: %v", jti, outcome, at, err)
		}
		if uses[0].JTI != jti || uses[0].Outcome != outcome {
			t.Fatalf("sent %+v for %q %q", uses[0], jti, outcome)
		}
	})
}

// TestSend: with Config.Send, batches go to it rather than over HTTP, in
// order; one it refuses (ErrRefused) is dropped, one that fails is sent
// again.
func TestSend(t *testing.T) {
	var mu sync.Mutex
	var got []string
	calls := 0
	r, err := NewReporter(Config{BatchSize: 2, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
		Send: func(_ context.Context, uses []verifier.Use) error {
			mu.Lock()
			defer mu.Unlock()
			calls++
			switch calls {
			case 1:
				return fmt.Errorf("%w: test", ErrRefused)
			case 2:
				return errors.New("database away")
			}
			for _, u := range uses {
				got = append(got, strings.Clone(u.JTI))
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		r.RecordUse(use(i))
	}
	closeReporter(t, r)
	checkJTIs(t, got, jtiRange(2, 6))
	checkStats(t, r.Stats(), Stats{Recorded: 6, Sent: 4, Refused: 2, Failures: 1})
	for _, cfg := range []Config{
		{Send: func(context.Context, []verifier.Use) error { return nil }, URL: "https://writ.example/v1/usage"},
		{Send: func(context.Context, []verifier.Use) error { return nil }, Token: StaticToken("t")},
	} {
		if _, err := NewReporter(cfg); err == nil {
			t.Errorf("NewReporter accepted Send with URL or Token: %+v", cfg)
		}
	}
}
