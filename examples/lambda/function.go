package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/bearer"
	"github.com/writ-dev/writ/verifier/remote"
	"github.com/writ-dev/writ/verifier/revoked"
)

// Defaults for Config.
const (
	DefaultMaxStaleness   = 5 * time.Minute
	DefaultRefresh        = 30 * time.Second
	DefaultRefreshTimeout = time.Second
)

// Config is what the function is told: by environment variables in main,
// directly by tests.
type Config struct {
	// Issuer is the iss of the tokens, and the URL under which writ serve
	// (or a static host's copy of a writ publish tree) serves its key sets
	// and revocation data. Required.
	Issuer string
	// Audience must be among each token's audiences. Required.
	Audience string
	// Realm is sent in WWW-Authenticate challenges.
	Realm string
	// Scopes are required of every token (403 otherwise).
	Scopes []string
	// MaxStaleness is the bound on the revocation data's age past which
	// every token is refused with 503; zero means DefaultMaxStaleness.
	MaxStaleness time.Duration
	// Refresh is the age of the revocation data past which an invocation
	// starts a refresh; zero means DefaultRefresh. It must be below
	// MaxStaleness.
	Refresh time.Duration
	// RefreshTimeout bounds each refresh of the revocation data (the
	// manifest and the files it names, together) and each fetch of a key
	// set, and so the wait of an invocation that finds its data past
	// MaxStaleness; zero means DefaultRefreshTimeout.
	RefreshTimeout time.Duration
	// Published holds the files of a writ publish tree of the issuer
	// made at build time (the file at PATH is the one served at
	// ISSUER/PATH): the key sets .well-known/jwks.json and
	// .well-known/paserk.json, and the revocation state, the signed
	// manifest v1/revocations/manifest with the snapshot and delta files
	// it names. Required.
	Published fs.FS
	// FeedToken, for an issuer whose revocation feed is private (writ
	// serve --private-feed), is a token of the issuer with scope
	// writ:revocations, sent with every read of the revocation state.
	// When it expires the reads fail, and the function fails closed past
	// MaxStaleness.
	FeedToken string
	// Transport makes the requests to the issuer; nil means
	// http.DefaultTransport.
	Transport http.RoundTripper
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Function verifies the bearer tokens of API Gateway requests. It is
// safe for concurrent use.
type Function struct {
	cfg      Config
	issuer   *remote.Issuer
	answered answered
	snap     *revoked.Snapshot
	verifier *verifier.Verifier
	handler  http.Handler

	mu      sync.Mutex
	running chan struct{} // closed when the refresh in flight ends; nil when none
	lastTry time.Time     // when the last refresh started

	failLogged atomic.Int64 // unix nanoseconds of the last "failing closed" log line
}

// NewFunction returns a Function for cfg. It waits for no network I/O:
// it starts from the key sets and revocation state of cfg.Published,
// read exactly as the issuer's are (remote.FollowIssuer's key sets and
// EdgeFeed: signature, issuer, the files' sizes and SHA-256), and fails if
// they do not verify (a manifest signed by another issuer, or by a key
// not in the embedded JWKS, or a file it names missing or altered). The
// key sets, and revocation data older than cfg.Refresh, are refreshed in
// the background.
func NewFunction(ctx context.Context, cfg Config) (*Function, error) {
	if cfg.MaxStaleness == 0 {
		cfg.MaxStaleness = DefaultMaxStaleness
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = DefaultRefresh
	}
	if cfg.RefreshTimeout == 0 {
		cfg.RefreshTimeout = DefaultRefreshTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	switch {
	case cfg.Issuer == "" || cfg.Audience == "":
		return nil, errors.New("WRIT_ISSUER and WRIT_AUDIENCE are required")
	case !remote.IsURL(cfg.Issuer):
		return nil, fmt.Errorf("WRIT_ISSUER %q is not an http or https URL", cfg.Issuer)
	case cfg.Refresh >= cfg.MaxStaleness:
		return nil, fmt.Errorf("refresh interval %v must be below the staleness bound %v", cfg.Refresh, cfg.MaxStaleness)
	case cfg.Published == nil:
		return nil, errors.New("embedded files: Config.Published is required")
	}
	var sets [2][]byte
	for i, name := range []string{".well-known/jwks.json", ".well-known/paserk.json"} {
		var err error
		if sets[i], err = fs.ReadFile(cfg.Published, name); err != nil {
			return nil, fmt.Errorf("embedded key set: %w", err)
		}
	}
	f := &Function{cfg: cfg}
	f.answered.now = cfg.Now
	f.answered.next = cfg.Transport
	var token func(context.Context) (string, error)
	if cfg.FeedToken != "" {
		token = func(context.Context) (string, error) { return cfg.FeedToken, nil }
	}
	var err error
	f.issuer, err = remote.FollowIssuer(ctx, remote.IssuerConfig{Issuer: cfg.Issuer, JWKS: sets[0], PASERK: sets[1], Token: token,
		Client: &http.Client{Transport: newTree(cfg.Issuer, cfg.Published, &f.answered), Timeout: cfg.RefreshTimeout},
		OnError: func(err error) {
			if !errors.Is(err, context.Canceled) { // by Close
				log.Printf("writ: key set refresh failed: %v", err)
			}
		}})
	if err != nil {
		return nil, fmt.Errorf("embedded key set: %w", err)
	}
	// The snapshot's first read, from the embedded tree; every later
	// one, from the issuer.
	f.snap, err = revoked.NewSnapshot(context.WithValue(ctx, fromTree{}, true),
		revoked.SnapshotConfig{Feed: f.issuer.Revocations, MaxStaleness: cfg.MaxStaleness, Now: cfg.Now})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("embedded revocation state: %w", err)
	}
	all, err := verifier.MergeKeySets(f.issuer.JWT.Current(), f.issuer.PASETO.Current())
	if err != nil {
		f.Close()
		return nil, err
	}
	f.verifier, err = verifier.New(verifier.Config{
		Issuer:   cfg.Issuer,
		Audience: cfg.Audience,
		// The algorithms of the embedded keys: an issuer that changes
		// algorithm needs a new build.
		Algorithms: (&remote.KeySets{All: all}).Algorithms(),
		Keys:       keySources{f.issuer.JWT, f.issuer.PASETO},
		Revocation: f.snap,
		Now:        cfg.Now,
	})
	if err != nil {
		f.Close()
		return nil, err
	}
	if f.snap.Staleness() > cfg.Refresh {
		f.startRefresh() // in the background: a cold start does not wait for the network
	}
	f.handler = bearer.Middleware(f.verifier, bearer.Config{Realm: cfg.Realm, Scopes: cfg.Scopes,
		OnRefused: func(r *http.Request, err error) {
			if !errors.Is(err, revoked.ErrStale) {
				return
			}
			// One line per WRIT_REFRESH, not one per refused request.
			if now := cfg.Now(); now.Sub(time.Unix(0, f.failLogged.Load())) >= cfg.Refresh {
				f.failLogged.Store(now.UnixNano())
				log.Printf("writ: failing closed: %v", err)
			}
			if p, ok := r.Context().Value(staleKey{}).(*error); ok {
				*p = err
			}
		}})(http.HandlerFunc(claimsHandler))
	return f, nil
}

// fromTree is the context key of the requests to the issuer that the
// embedded publish tree answers: those of the revocation snapshot's first
// read, in NewFunction.
type fromTree struct{}

// tree is the transport of the requests to the issuer: it answers those
// whose context holds fromTree from the embedded files of a writ publish
// tree, where the file at PATH is the one served at ISSUER/PATH (404 for
// any other), and hands every other to next.
type tree struct {
	files  fs.FS
	prefix string // the issuer URL's path, with a final slash
	next   http.RoundTripper
}

func newTree(issuer string, files fs.FS, next http.RoundTripper) *tree {
	prefix := "/"
	if u, err := url.Parse(issuer); err == nil { // else FollowIssuer refuses it
		prefix = strings.TrimSuffix(u.Path, "/") + "/"
	}
	return &tree{files: files, prefix: prefix, next: next}
}

func (t *tree) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Context().Value(fromTree{}) == nil {
		return t.next.RoundTrip(r)
	}
	status, body := http.StatusNotFound, []byte(nil)
	if name, ok := strings.CutPrefix(r.URL.Path, t.prefix); ok && fs.ValidPath(name) {
		if b, err := fs.ReadFile(t.files, name); err == nil {
			status, body = http.StatusOK, b
		}
	}
	return &http.Response{Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{},
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: r}, nil
}

// answered is the transport of the requests to the issuer: it notes when
// the JWKS and the PASERK set were last answered 200 or 304, for their
// age.
type answered struct {
	next        http.RoundTripper
	now         func() time.Time
	jwt, paseto atomic.Int64 // unix nanoseconds; 0 before any answer
}

func (a *answered) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := a.next.RoundTrip(r)
	if err == nil && (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNotModified) {
		switch path.Base(r.URL.Path) {
		case "jwks.json":
			a.jwt.Store(a.now().UnixNano())
		case "paserk.json":
			a.paseto.Store(a.now().UnixNano())
		}
	}
	return resp, err
}

// age is the time since both key sets were last answered, and false while
// either has only its embedded copy.
func (a *answered) age(now time.Time) (time.Duration, bool) {
	jwt, paseto := a.jwt.Load(), a.paseto.Load()
	return now.Sub(time.Unix(0, min(jwt, paseto))), jwt != 0 && paseto != 0
}

// keySources looks a kid up in the PASETO set when it is a PASERK id,
// and in the JWT set otherwise, so that an unknown kid makes only its own
// set refetch.
type keySources struct{ jwt, paseto verifier.KeySource }

func (k keySources) LookupKey(ctx context.Context, kid string) (*verifier.Key, error) {
	if strings.HasPrefix(kid, "k4.pid.") {
		return k.paseto.LookupKey(ctx, kid)
	}
	return k.jwt.LookupKey(ctx, kid)
}

// Close stops the background refreshes and waits for one in flight.
func (f *Function) Close() {
	f.waitRefresh()
	f.issuer.Close()
	if f.snap != nil {
		f.snap.Close()
	}
}

// State says how old the function's keys and revocation data are, for a
// log line.
func (f *Function) State() string {
	keys, revs := f.ages()
	if keys != "embedded" {
		keys += " s old"
	}
	return fmt.Sprintf("keys %s (%d JWT, %d PASETO), revocations %s s old (seq %d, bound %v)",
		keys, f.issuer.JWT.Current().Len(), f.issuer.PASETO.Current().Len(), revs, f.snap.Seq(), f.cfg.MaxStaleness)
}

// ages returns the Writ-Keys-Age and Writ-Revocations-Age values: whole
// seconds, or "embedded" for keys no URL has answered for yet.
func (f *Function) ages() (keys, revocations string) {
	keys = "embedded"
	if age, ok := f.answered.age(f.cfg.Now()); ok {
		keys = seconds(age)
	}
	return keys, seconds(f.snap.Staleness())
}

func seconds(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }

// freshen starts a refresh of the revocation data once it is older than
// Config.Refresh, unless one is running or one started less than Refresh
// ago; and once it is older than MaxStaleness, waits for that refresh
// (at most RefreshTimeout, within ctx) rather than fail closed at once,
// and for one more if that one was left from before a freeze.
// Lambda freezes the process between invocations, background work
// included, so the age is checked at each invocation.
func (f *Function) freshen(ctx context.Context) {
	age := f.snap.Staleness()
	if age <= f.cfg.Refresh {
		return
	}
	done := f.startRefresh()
	if done == nil || age <= f.cfg.MaxStaleness {
		return
	}
	// Past the bound, the invocation waits. A refresh still in flight
	// may have been left by the invocation before Lambda froze the
	// process: what it read may be as old as the freeze, so once it ends
	// with the data still past the bound, one more, started now.
	if !waitDone(ctx, done) || f.snap.Staleness() <= f.cfg.MaxStaleness {
		return
	}
	if again := f.startRefresh(); again != nil {
		waitDone(ctx, again)
	}
}

// waitDone waits for done or the end of ctx, and reports whether done came.
func waitDone(ctx context.Context, done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// waitRefresh waits for the revocation refresh in flight, if any.
func (f *Function) waitRefresh() {
	f.mu.Lock()
	running := f.running
	f.mu.Unlock()
	if running != nil {
		<-running
	}
}

func (f *Function) startRefresh() chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running != nil {
		return f.running
	}
	now := f.cfg.Now()
	if now.Sub(f.lastTry) < f.cfg.Refresh {
		return nil // the last one failed not long ago: do not stall every invocation
	}
	f.lastTry = now
	done := make(chan struct{})
	f.running = done
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), f.cfg.RefreshTimeout)
		err := f.snap.Refresh(ctx)
		cancel()
		if err != nil {
			log.Printf("writ: revocation refresh failed (data %s s old, bound %v): %v", seconds(f.snap.Staleness()), f.cfg.MaxStaleness, err)
		}
		f.mu.Lock()
		f.running = nil
		f.mu.Unlock()
		close(done)
	}()
	return done
}

// staleKey is the context key of the error with which a request was
// refused as stale, for its answer's body.
type staleKey struct{}

// Handle answers one API Gateway HTTP API request (payload format 2.0).
// The client address that tokens bound to networks are checked against
// is the one API Gateway saw, requestContext.http.sourceIp.
//
// An event of another format (a REST API's, or an HTTP API's with payload
// format 1.0) is an error, which API Gateway answers 502: its client
// address is elsewhere, and tokens bound to networks would be refused.
func (f *Function) Handle(ctx context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	if e.Version != "2.0" {
		return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("event of payload format %q: configure the API Gateway integration with an HTTP API and payload format 2.0", e.Version)
	}
	f.freshen(ctx)
	var stale error
	r := request(context.WithValue(ctx, staleKey{}, &stale), e)
	w := &response{header: http.Header{}}
	f.handler.ServeHTTP(w, r)
	if stale != nil {
		w.body.Reset()
		w.body.WriteString(stale.Error() + "\n")
	}
	keys, revocations := f.ages()
	w.header.Set("Writ-Keys-Age", keys)
	w.header.Set("Writ-Revocations-Age", revocations)
	out := events.APIGatewayV2HTTPResponse{StatusCode: w.result(), Headers: make(map[string]string, len(w.header)), Body: w.body.String()}
	for k, v := range w.header {
		out.Headers[k] = strings.Join(v, ", ")
	}
	return out, nil
}

// request is e as an http.Request for bearer.Middleware: its method,
// path, headers (API Gateway joins repeated ones with commas) and, as the
// connection's address, the source address API Gateway saw.
func request(ctx context.Context, e events.APIGatewayV2HTTPRequest) *http.Request {
	h := make(http.Header, len(e.Headers))
	for k, v := range e.Headers {
		h.Set(k, v)
	}
	r := &http.Request{Method: e.RequestContext.HTTP.Method, URL: &url.URL{Path: e.RawPath, RawQuery: e.RawQueryString},
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h, RemoteAddr: e.RequestContext.HTTP.SourceIP}
	return r.WithContext(ctx)
}

// response is the http.ResponseWriter that the handler writes to.
type response struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

// result is the answer's status: 200 if the handler set none.
func (w *response) result() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

func (w *response) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

// claimsHandler answers a request whose token verified with its claims.
func claimsHandler(w http.ResponseWriter, r *http.Request) {
	c, _ := verifier.ClaimsFromContext(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(c.RawJSON())
}
