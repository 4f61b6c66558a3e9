package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/remote"
	"github.com/writ-dev/writ/verifier/revoked"
)

// answer is the answer to a read of the feed made in the background.
type answer struct {
	code int
	hdr  http.Header
	body string
	err  error
}

// read reads the feed at base+path in the background, with the headers
// hdr (name, value pairs), until ctx is done.
func read(ctx context.Context, base, path string, hdr ...string) <-chan answer {
	c := make(chan answer, 1)
	go func() {
		req, err := http.NewRequestWithContext(ctx, "GET", base+path, nil)
		if err != nil {
			c <- answer{err: err}
			return
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			c <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		c <- answer{resp.StatusCode, resp.Header, string(b), err}
	}()
	return c
}

// await returns the answer from c, failing the test if none comes within
// a generous time: a guard against a read held for good, not a measure.
func await[T any](t testing.TB, what string, c <-chan T) T {
	t.Helper()
	select {
	case a := <-c:
		return a
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: no answer within 30s", what)
		panic("unreachable")
	}
}

// waiters returns the reads of the feed that the server holds.
func (f *fixture) waiters() int { return f.feedCounter("writ_revocation_feed_waiters") }

// holding waits until the server holds n reads of the feed.
func (f *fixture) holding(n int) {
	f.t.Helper()
	eventually(f.t, fmt.Sprintf("%d held reads", n), func() bool { return f.waiters() == n })
}

// revokeNew issues a token and revokes it through the admin API.
func (f *fixture) revokeNew() *issuer.Token {
	f.t.Helper()
	tok, err := f.tokens.Issue(context.Background(), issuer.Request{Subject: "svc", Audience: []string{"https://api"}, TTL: time.Hour})
	if err != nil {
		f.t.Fatal(err)
	}
	f.revoke(tok.ID)
	return tok
}

// TestFeedWaitBadValues: a wait that is not a whole number of seconds
// from 0 to 30 is refused with 400 and says what it must be.
func TestFeedWaitBadValues(t *testing.T) {
	f := newFixture(t)
	for _, v := range []string{"-1", "61", "1.5", "1s", "x", "99999999999999999999", "9223372037", "5%20"} {
		t.Run(v, func(t *testing.T) {
			code, _, body := f.do("GET", "/v1/revocations?since=0&wait="+v, "", "", "")
			if code != http.StatusBadRequest || !strings.Contains(body, "wait must be a whole number of seconds from 0 to 30") {
				t.Errorf("%d %s; want 400 saying what wait must be", code, body)
			}
		})
	}
	if code, _, _ := f.do("GET", "/v1/revocations?since=0&wait=0", "", "", ""); code != http.StatusOK {
		t.Errorf("wait=0: %d, want 200 (no wait)", code)
	}
}

// TestFeedWaitAtOnce: a read whose list is already beyond its since, or
// whose If-None-Match no longer matches, is answered at once, as without
// wait.
func TestFeedWaitAtOnce(t *testing.T) {
	f := newFixture(t)
	f.revokeNew()
	ctx := context.Background()
	a := await(t, "a read behind the list", read(ctx, f.url, "/v1/revocations?since=0&wait=30"))
	if a.err != nil || a.code != http.StatusOK {
		t.Fatalf("behind the list: %d, %v", a.code, a.err)
	}
	a = await(t, "a read at the list's seq with an old ETag", read(ctx, f.url, "/v1/revocations?since=1&wait=30", "If-None-Match", `"rev-old-0-1"`))
	if a.err != nil || a.code != http.StatusOK {
		t.Fatalf("an old ETag: %d, %v", a.code, a.err)
	}
	if n := f.waiters(); n != 0 {
		t.Errorf("%d reads held", n)
	}
}

// TestFeedWaitTimeout: a read held to the end of its wait is answered
// with the unchanged document signed anew (a remote verifier counts its
// staleness from that signature), or 304 to a conditional read.
func TestFeedWaitTimeout(t *testing.T) {
	f := newFixture(t)
	f.revokeNew()
	ctx := context.Background()
	_, h, _ := f.do("GET", "/v1/revocations?since=1", "", "", "")
	tag := h.Get("ETag")
	asked := time.Now().Truncate(time.Second)
	b, err := f.remoteFeed(f.remoteKeys(), func(c *remote.FeedConfig) { c.Wait = time.Second }).WaitChanges(ctx, 1)
	if err != nil || b.Seq != 1 || b.AsOf.Before(asked) {
		t.Fatalf("a plain read held to the end: %+v, %v; want seq 1 signed since %v", b, err, asked)
	}
	a := await(t, "a conditional read", read(ctx, f.url, "/v1/revocations?since=1&wait=1", "If-None-Match", tag))
	if a.err != nil || a.code != http.StatusNotModified || a.hdr.Get("ETag") != tag {
		t.Errorf("a conditional read held to the end: %d %v, ETag %q; want 304 with %q", a.code, a.err, a.hdr.Get("ETag"), tag)
	}
}

// TestFeedWaitWakes: a held read is answered with the change as soon as
// the server's snapshot has it, whether it came through the admin API or
// the CLI (the database, which the server polls).
func TestFeedWaitWakes(t *testing.T) {
	for _, how := range []string{"admin API", "CLI"} {
		t.Run(how, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			feed := f.remoteFeed(f.remoteKeys(), func(c *remote.FeedConfig) { c.Wait = remote.MaxFeedWait })
			got := make(chan *revoked.Batch, 1)
			go func() {
				b, err := feed.WaitChanges(ctx, 0)
				if err != nil {
					t.Error(err)
				}
				got <- b
			}()
			f.holding(1)
			tok, err := f.tokens.Issue(ctx, issuer.Request{Subject: "svc", Audience: []string{"https://api"}})
			if err != nil {
				t.Fatal(err)
			}
			if how == "admin API" {
				f.revoke(tok.ID)
			} else if _, err := f.list.RevokeToken(ctx, tok.ID, revocation.Options{}); err != nil {
				t.Fatal(err)
			}
			b := await(t, "the held read", got)
			if b == nil || b.Seq != 1 || len(b.Tokens) != 1 || b.Tokens[0].ID != revoked.TokenIDOf(tok.ID) {
				t.Errorf("held read answered %+v; want the revocation", b)
			}
			f.holding(0)
		})
	}
}

// TestFeedWaitersBounded: beyond MaxFeedWaiters held reads, a read is
// answered at once as a plain poll, never refused; none are held with a
// negative bound.
func TestFeedWaitersBounded(t *testing.T) {
	f := newFixture(t, func(c *server.Config, _ *sqlite.DB) { c.MaxFeedWaiters = 1 })
	ctx := context.Background()
	held := read(ctx, f.url, "/v1/revocations?since=0&wait=30")
	f.holding(1)
	a := await(t, "a read beyond the bound", read(ctx, f.url, "/v1/revocations?since=0&wait=30"))
	if a.err != nil || a.code != http.StatusOK {
		t.Errorf("a read beyond the bound: %d %v, want 200", a.code, a.err)
	}
	if n := f.feedCounter("writ_revocation_feed_waits_refused_total"); n != 1 {
		t.Errorf("%d reads answered at once for the bound, want 1", n)
	}
	f.revokeNew()
	if a := await(t, "the held read", held); a.err != nil || a.code != http.StatusOK {
		t.Errorf("the held read: %d %v", a.code, a.err)
	}

	// A negative bound holds none (writ serve --max-feed-waiters 0).
	none := newFixture(t, func(c *server.Config, _ *sqlite.DB) { c.MaxFeedWaiters = -1 })
	if a := await(t, "a read when none are held", read(ctx, none.url, "/v1/revocations?since=0&wait=30")); a.err != nil || a.code != http.StatusOK {
		t.Errorf("a read when none are held: %d %v, want 200", a.code, a.err)
	}
}

// TestFeedWaitClientLeaves: a client that gives up frees its place at
// once, not at the end of its wait.
func TestFeedWaitClientLeaves(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	held := read(ctx, f.url, "/v1/revocations?since=0&wait=30")
	f.holding(1)
	cancel()
	if a := await(t, "the abandoned read", held); !errors.Is(a.err, context.Canceled) {
		t.Errorf("abandoned read: %v", a.err)
	}
	f.holding(0)
}

// TestFeedWaitShutdown: graceful shutdown answers the held reads at once
// rather than waiting for their ends (or its own timeout).
func TestFeedWaitShutdown(t *testing.T) {
	f := newFixture(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	addr := make(chan net.Addr, 1)
	ran := make(chan error, 1)
	go func() {
		ran <- f.srv.Run(ctx, server.RunConfig{Addr: "127.0.0.1:0", ShutdownTimeout: time.Minute,
			OnListen: func(a net.Addr) { addr <- a }})
	}()
	base := "http://" + await(t, "listening", addr).String()
	held := read(context.Background(), base, "/v1/revocations?since=0&wait=30")
	f.holding(1)
	stop()
	if err := await(t, "shutdown", ran); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if a := await(t, "the held read", held); a.err != nil || a.code != http.StatusOK || !strings.HasPrefix(a.hdr.Get("Content-Type"), "application/jwt") {
		t.Errorf("held read at shutdown: %d %v, want the document", a.code, a.err)
	}
}

// TestFeedWaitPrivate: a private feed asks its token of a read that
// would wait, before holding it.
func TestFeedWaitPrivate(t *testing.T) {
	f := newFixture(t, func(c *server.Config, _ *sqlite.DB) { c.PrivateFeed = true })
	ctx := context.Background()
	if a := await(t, "a read without token", read(ctx, f.url, "/v1/revocations?since=0&wait=30")); a.code != http.StatusUnauthorized {
		t.Errorf("a read without token: %d %v, want 401", a.code, a.err)
	}
	feedToken := f.issue("verifier-1", []string{f.url}, server.FeedScope)
	held := read(ctx, f.url, "/v1/revocations?since=0&wait=30", "Authorization", "Bearer "+feedToken)
	f.holding(1)
	f.revokeNew()
	if a := await(t, "the held read", held); a.code != http.StatusOK {
		t.Errorf("a held read with the token: %d %v, want 200", a.code, a.err)
	}
}

// TestPushToManyVerifiers: 50 remote verifiers (remote.Feed with a wait
// and revoked.Snapshot, over loopback) each learn of every revocation
// through their held reads (their polling interval is an hour), and the
// server builds one document for each change, however many read it.
func TestPushToManyVerifiers(t *testing.T) {
	const verifiers, revocations = 50, 3
	f := newFixture(t)
	ctx := context.Background()
	keys := f.remoteKeys()
	snaps := make([]*revoked.Snapshot, verifiers)
	for i := range snaps {
		snap, err := revoked.NewSnapshot(ctx, revoked.SnapshotConfig{
			Feed:    f.remoteFeed(keys, func(c *remote.FeedConfig) { c.Wait = 30 * time.Second }),
			Refresh: time.Hour, MaxStaleness: time.Minute,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(snap.Close)
		snaps[i] = snap
	}
	const builds = "writ_revocation_feed_builds_total"
	before := f.feedCounter(builds)
	for r := range revocations {
		f.holding(verifiers)
		tok := f.revokeNew()
		claims := &verifier.Claims{ID: tok.ID}
		for i, snap := range snaps {
			eventually(t, fmt.Sprintf("revocation %d at verifier %d", r, i), func() bool {
				return errors.Is(snap.CheckRevocation(ctx, claims), verifier.ErrRevoked)
			})
		}
	}
	if got := f.feedCounter(builds) - before; got != revocations {
		t.Errorf("%d documents built for %d changes read by %d verifiers, want one per change", got, revocations, verifiers)
	}
}

// TestFeedWaitWakesOnAnnouncement: a read held by one replica is answered
// when a revocation made through another is announced to it (neither
// polls the database within the test).
func TestFeedWaitWakesOnAnnouncement(t *testing.T) {
	a, b := newReplicas(t)
	held := read(context.Background(), b.url, "/v1/revocations?since=0&wait=30")
	b.holding(1)
	tok := a.issueToken("svc")
	a.revoke(tok.ID)
	got := await(t, "the read held by the other replica", held)
	if got.err != nil || got.code != http.StatusOK || !strings.HasSuffix(got.hdr.Get("ETag"), `-0-1"`) {
		t.Errorf("held read: %d %v, ETag %q; want the list at seq 1", got.code, got.err, got.hdr.Get("ETag"))
	}
}

// TestFeedWaitersPerClient: one client address holds at most a tenth of
// the places; its further reads are answered at once, while another
// address's read is still held.
func TestFeedWaitersPerClient(t *testing.T) {
	f := newFixture(t, func(c *server.Config, _ *sqlite.DB) { c.MaxFeedWaiters = 20 })
	ctx := context.Background()
	var held []<-chan answer
	for range 2 {
		held = append(held, read(ctx, f.url, "/v1/revocations?since=0&wait=30"))
	}
	f.holding(2)
	if a := await(t, "a third read from one address", read(ctx, f.url, "/v1/revocations?since=0&wait=30")); a.err != nil || a.code != http.StatusOK {
		t.Errorf("a third read from one address: %d %v, want 200 at once", a.code, a.err)
	}
	// Another address (127.0.0.2 reaches the loopback server too) is held.
	other := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}
	done := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", f.url+"/v1/revocations?since=0&wait=30", nil)
		resp, err := other.Do(req)
		if err != nil {
			done <- answer{err: err}
			return
		}
		resp.Body.Close()
		done <- answer{code: resp.StatusCode}
	}()
	f.holding(3)
	f.revokeNew()
	for _, c := range append(held, done) {
		if a := await(t, "a held read", c); a.err != nil || a.code != http.StatusOK {
			t.Errorf("a held read: %d %v", a.code, a.err)
		}
	}
}

// TestFeedWaitersPerNetwork: the addresses of one IPv6 /64, which one host
// commonly holds whole, count as one client: rotating through them takes
// no more places than one address does.
func TestFeedWaitersPerNetwork(t *testing.T) {
	f := newFixture(t, func(c *server.Config, _ *sqlite.DB) {
		c.MaxFeedWaiters = 20
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	ctx := context.Background()
	const path = "/v1/revocations?since=0&wait=30"
	held := []<-chan answer{
		read(ctx, f.url, path, "X-Forwarded-For", "2001:db8::1"),
		read(ctx, f.url, path, "X-Forwarded-For", "2001:db8::2"),
	}
	f.holding(2)
	if a := await(t, "a third read from the /64", read(ctx, f.url, path, "X-Forwarded-For", "2001:db8::3")); a.err != nil || a.code != http.StatusOK {
		t.Errorf("a third read from the /64: %d %v, want 200 at once", a.code, a.err)
	}
	held = append(held, read(ctx, f.url, path, "X-Forwarded-For", "2001:db8:0:1::1"))
	f.holding(3)
	f.revokeNew()
	for _, c := range held {
		if a := await(t, "a held read", c); a.err != nil || a.code != http.StatusOK {
			t.Errorf("a held read: %d %v", a.code, a.err)
		}
	}
}
