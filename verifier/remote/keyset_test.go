package remote_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/remote"
)

// jwksServer serves a JWKS that the test can change or break, and counts
// requests.
type jwksServer struct {
	*httptest.Server
	mu       sync.Mutex
	body     []byte
	etag     string
	fail     bool
	requests atomic.Int64
	cond     atomic.Int64 // conditional requests answered 304
	delay    time.Duration
	version  int
}

func newJWKSServer(t *testing.T, kids ...string) *jwksServer {
	s := &jwksServer{}
	s.setKeys(kids...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		body, etag, fail, delay := s.body, s.etag, s.fail, s.delay
		s.mu.Unlock()
		time.Sleep(delay)
		if fail {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			s.cond.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

// setKeys publishes one test-only Ed25519 key per kid, derived from the kid.
func (s *jwksServer) setKeys(kids ...string) {
	body := `{"keys":[`
	for i, kid := range kids {
		seed := make([]byte, ed25519.SeedSize)
		copy(seed, kid)
		pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
		if i > 0 {
			body += ","
		}
		body += fmt.Sprintf(`{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","use":"sig","kid":%q,"x":%q}`, kid, b64.Encode(pub))
	}
	body += "]}"
	s.mu.Lock()
	s.version++
	s.body, s.etag = []byte(body), fmt.Sprintf(`"v%d"`, s.version)
	s.mu.Unlock()
}

// setKeysAndRaw publishes one key per kid, as setKeys does, followed by
// raw keys given as JSON text.
func (s *jwksServer) setKeysAndRaw(kids []string, raw ...string) {
	s.setKeys(kids...)
	s.mu.Lock()
	defer s.mu.Unlock()
	body := strings.TrimSuffix(string(s.body), "]}")
	for _, r := range raw {
		if !strings.HasSuffix(body, "[") {
			body += ","
		}
		body += r
	}
	s.body = []byte(body + "]}")
}

func (s *jwksServer) setFail(fail bool) {
	s.mu.Lock()
	s.fail = fail
	s.mu.Unlock()
}

func TestInitialBytesNeedNoNetwork(t *testing.T) {
	srv := newJWKSServer(t, "a")
	srv.mu.Lock()
	initial := srv.body
	srv.mu.Unlock()
	srv.setFail(true)
	ks, err := remote.NewKeySet(context.Background(), remote.KeySetConfig{URL: srv.URL, Initial: initial, MinRefresh: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	if _, err := ks.LookupKey(context.Background(), "a"); err != nil {
		t.Errorf("key from the initial bytes: %v", err)
	}
}

func TestFirstFetchMustSucceed(t *testing.T) {
	srv := newJWKSServer(t, "a")
	srv.setFail(true)
	if _, err := remote.NewKeySet(context.Background(), remote.KeySetConfig{URL: srv.URL}); err == nil {
		t.Fatal("NewKeySet succeeded without any key set")
	}
}

// TestUnconditional304: a 304 to a request without If-None-Match is not a
// key set: the first fetch fails, and a later one keeps the set held.
func TestUnconditional304(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNotModified)
	}))
	defer srv.Close()
	if _, err := remote.NewKeySet(context.Background(), remote.KeySetConfig{URL: srv.URL}); err == nil {
		t.Fatal("NewKeySet succeeded on a 304 alone")
	}

	good := newJWKSServer(t, "a")
	good.mu.Lock()
	initial := good.body
	good.mu.Unlock()
	ks, err := remote.NewKeySet(context.Background(), remote.KeySetConfig{URL: srv.URL, Initial: initial, MinRefresh: time.Hour, Cooldown: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	// An unknown kid makes it fetch: the 304 must not drop the set.
	if _, err := ks.LookupKey(context.Background(), "b"); !errors.Is(err, verifier.ErrUnknownKey) {
		t.Errorf("unknown kid: %v", err)
	}
	if _, err := ks.LookupKey(context.Background(), "a"); err != nil {
		t.Errorf("key of the initial set after a 304: %v", err)
	}
}

func TestUnknownKidRefetchesOncePerCooldown(t *testing.T) {
	srv := newJWKSServer(t, "a")
	clock := newTestClock()
	ks, err := remote.NewKeySet(context.Background(), remote.KeySetConfig{URL: srv.URL, Cooldown: time.Minute, MinRefresh: time.Hour, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	base := srv.requests.Load()

	// A new key appears on the server: the first token that names it
	// triggers one fetch, and is accepted.
	srv.setKeys("a", "b")
	if _, err := ks.LookupKey(context.Background(), "b"); err != nil {
		t.Fatalf("new kid after a refetch: %v", err)
	}
	if got := srv.requests.Load() - base; got != 1 {
		t.Errorf("%d fetches for one unknown kid, want 1", got)
	}
	// A flood of bogus kids within the cooldown fetches nothing more.
	for i := range 1000 {
		if _, err := ks.LookupKey(context.Background(), fmt.Sprint("bogus-", i)); !errors.Is(err, verifier.ErrUnknownKey) {
			t.Fatalf("bogus kid: %v", err)
		}
	}
	if got := srv.requests.Load() - base; got != 1 {
		t.Errorf("%d fetches after a flood of unknown kids, want 1", got)
	}
	// After the cooldown one more fetch is allowed; a kid that stays
	// unknown is then remembered.
	clock.Advance(2 * time.Minute)
	if _, err := ks.LookupKey(context.Background(), "bogus-x"); !errors.Is(err, verifier.ErrUnknownKey) {
		t.Fatal(err)
	}
	if got := srv.requests.Load() - base; got != 2 {
		t.Errorf("%d fetches after the cooldown, want 2", got)
	}
}

func TestConcurrentUnknownKidsShareOneFetch(t *testing.T) {
	srv := newJWKSServer(t, "a")
	ks, err := remote.NewKeySet(context.Background(), remote.KeySetConfig{URL: srv.URL, MinRefresh: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	base := srv.requests.Load()
	srv.mu.Lock()
	srv.delay = 50 * time.Millisecond
	srv.mu.Unlock()
	srv.setKeys("a", "c")
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ks.LookupKey(context.Background(), "c")
		}()
	}
	wg.Wait()
	if got := srv.requests.Load() - base; got != 1 {
		t.Errorf("%d fetches for 50 concurrent lookups, want 1", got)
	}
	if _, err := ks.LookupKey(context.Background(), "c"); err != nil {
		t.Errorf("kid c: %v", err)
	}
}

func TestFailedFetchKeepsLastGoodSet(t *testing.T) {
	srv := newJWKSServer(t, "a")
	clock := newTestClock()
	var errs atomic.Int64
	ks, err := remote.NewKeySet(context.Background(), remote.KeySetConfig{URL: srv.URL, Cooldown: time.Millisecond,
		MinRefresh: time.Hour, Now: clock.Now, OnError: func(error) { errs.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	srv.setFail(true)
	clock.Advance(time.Second)
	if _, err := ks.LookupKey(context.Background(), "zzz"); !errors.Is(err, verifier.ErrUnknownKey) {
		t.Fatal(err)
	}
	if ks.Err() == nil || errs.Load() == 0 {
		t.Error("the failed fetch was not reported")
	}
	if _, err := ks.LookupKey(context.Background(), "a"); err != nil {
		t.Errorf("last good key lost: %v", err)
	}
}

func TestNewSetReplacesOld(t *testing.T) {
	srv := newJWKSServer(t, "a")
	clock := newTestClock()
	ks, err := remote.NewKeySet(context.Background(), remote.KeySetConfig{URL: srv.URL, Cooldown: time.Millisecond,
		MinRefresh: time.Hour, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	srv.setKeys("b")
	clock.Advance(time.Second)
	if _, err := ks.LookupKey(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Current().LookupKey(context.Background(), "a"); !errors.Is(err, verifier.ErrUnknownKey) {
		t.Errorf("removed key still trusted: %v", err)
	}
}

// TestIgnoredKeys: a key set's keys that the verifier cannot use are
// reported by Current().Ignored(), from the initial bytes and after a
// refresh; a refreshed set with no usable key is a failed fetch, which
// leaves the last good set in place.
func TestIgnoredKeys(t *testing.T) {
	const p384 = `{"kty":"EC","crv":"P-384","kid":"c","x":"AA","y":"AA"}`
	srv := newJWKSServer(t)
	srv.setKeysAndRaw([]string{"a"}, p384)
	srv.mu.Lock()
	initial := srv.body
	srv.mu.Unlock()
	srv.setFail(true)
	clock := newTestClock()
	ks, err := remote.NewKeySet(context.Background(), remote.KeySetConfig{URL: srv.URL, Initial: initial, Cooldown: time.Millisecond,
		MinRefresh: time.Hour, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	// A set started from bytes is fetched at once in the background; a
	// lookup below that joined that fetch would get the set it began
	// with. So that fetch fails, and the next is an hour away.
	for deadline := time.Now().Add(30 * time.Second); ks.Err() == nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no failed fetch within 30s of the start")
		}
	}
	srv.setFail(false)
	checkIgnored := func(want string) {
		t.Helper()
		ign := ks.Current().Ignored()
		if len(ign) != 1 || ign[0].ID != want || !errors.Is(ign[0].Reason, verifier.ErrKeyUnsupported) {
			t.Fatalf("Current().Ignored() = %v, want kid %q not supported", ign, want)
		}
	}
	checkIgnored("c")

	srv.setKeysAndRaw([]string{"b"}, strings.Replace(p384, `"c"`, `"d"`, 1))
	clock.Advance(time.Second)
	if _, err := ks.LookupKey(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	checkIgnored("d")
	if _, err := ks.LookupKey(context.Background(), "d"); !errors.Is(err, verifier.ErrUnknownKey) {
		t.Errorf("ignored kid: %v, want ErrUnknownKey", err)
	}

	srv.setKeysAndRaw(nil, p384)
	clock.Advance(time.Second)
	if _, err := ks.LookupKey(context.Background(), "c"); !errors.Is(err, verifier.ErrUnknownKey) {
		t.Errorf("kid of a set with no usable key: %v, want ErrUnknownKey", err)
	}
	if err := ks.Err(); !errors.Is(err, verifier.ErrKeySet) || !strings.Contains(err.Error(), "no usable key") {
		t.Errorf("Err() = %v, want the set refused for having no usable key", err)
	}
	if _, err := ks.LookupKey(context.Background(), "b"); err != nil {
		t.Errorf("last good key lost to a set with no usable key: %v", err)
	}
	checkIgnored("d")
}

func TestBackgroundRefreshIsConditional(t *testing.T) {
	srv := newJWKSServer(t, "a")
	ks, err := remote.NewKeySet(context.Background(), remote.KeySetConfig{URL: srv.URL, MinRefresh: 10 * time.Millisecond, MaxRefresh: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	deadline := time.Now().Add(5 * time.Second)
	for srv.cond.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no conditional refresh seen (%d requests)", srv.requests.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := ks.LookupKey(context.Background(), "a"); err != nil {
		t.Errorf("after 304s: %v", err)
	}
}

func TestCloseLeavesNoGoroutine(t *testing.T) {
	srv := newJWKSServer(t, "a")
	before := runtime.NumGoroutine()
	for range 20 {
		ks, err := remote.NewKeySet(context.Background(), remote.KeySetConfig{URL: srv.URL, MinRefresh: time.Millisecond, MaxRefresh: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
		ks.Close()
	}
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before+2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines before, %d after closing 20 key sets", before, runtime.NumGoroutine())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testClock is a clock the test advances while the key set's background
// loop reads it.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.Now()} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
