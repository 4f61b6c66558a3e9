package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/revoked"
)

// TestRevocationTimesBounded: a grace ending after the token's expiry and a
// subject cut-off in the future are refused with 400, and nothing is
// issued or revoked.
func TestRevocationTimesBounded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tok, err := f.tokens.Issue(ctx, issuer.Request{Subject: "alice", Audience: []string{"https://api"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	f.seen = append(f.seen, tok.Token)
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	tests := []struct {
		name, path, body, want string
	}{
		{"revoke, grace past the expiry", "/v1/tokens/" + tok.ID + "/revoke", `{"grace":"2h"}`, "grace period ends after the token expires"},
		{"revoke, grace past 2106", "/v1/tokens/" + tok.ID + "/revoke", `{"grace":"700000h"}`, "grace period ends after the token expires"},
		{"regenerate, grace past the expiry", "/v1/tokens/" + tok.ID + "/regenerate", `{"grace":"2h"}`, "grace period ends after the token expires"},
		{"regenerate, negative grace", "/v1/tokens/" + tok.ID + "/regenerate", `{"grace":"-1h"}`, "negative grace period"},
		{"subject, cut-off in the future", "/v1/subjects/alice/revoke", `{"before":"` + future + `"}`, "is in the future"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, body := f.do("POST", tt.path, f.admin, "application/json", tt.body)
			if code != 400 || !strings.Contains(body, `"error": "invalid_request"`) || !strings.Contains(body, tt.want) {
				t.Errorf("%d %s, want 400 invalid_request naming %q", code, body, tt.want)
			}
		})
	}
	if entries, err := f.list.Entries(ctx, revocation.Filter{}); err != nil || len(entries) != 0 {
		t.Errorf("entries after refused revocations: %v, %v", entries, err)
	}
	if recs, err := f.tokens.List(ctx, issuer.Filter{Subject: "alice"}); err != nil || len(recs) != 1 {
		t.Errorf("tokens of alice after refused regenerations: %d, %v; want 1", len(recs), err)
	}
}

// feedCounter returns the value of the counter name in the server's metrics.
func (f *fixture) feedCounter(name string) int {
	f.t.Helper()
	_, _, body := f.do("GET", "/metrics", "", "", "")
	m := regexp.MustCompile(`(?m)^` + name + ` (\d+)$`).FindStringSubmatch(body)
	if m == nil {
		f.t.Fatalf("metrics lack %s", name)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestRevocationFeedBuiltOnce: concurrent full fetches of the feed cost one
// build between them, the next change of the list one more, and what they
// serve is the whole list, as a remote verifier reads it.
func TestRevocationFeedBuiltOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const n = 20_000
	fillList(t, f.db, f.list, n)
	const builds = "writ_revocation_feed_builds_total"
	before := f.feedCounter(builds)
	var wg sync.WaitGroup
	docs := make([]string, 8)
	for i := range docs {
		wg.Go(func() {
			code, _, body := f.do("GET", "/v1/revocations", "", "", "")
			if code == 200 {
				docs[i] = body
			}
		})
	}
	wg.Wait()
	for i, d := range docs {
		if d == "" {
			t.Fatalf("fetch %d failed", i)
		}
	}
	if got := f.feedCounter(builds) - before; got != 1 {
		t.Errorf("%d concurrent full fetches built the feed %d times, want once", len(docs), got)
	}
	feed := f.remoteFeed(f.remoteKeys(), nil)
	b, err := feed.Changes(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Tokens) != n || b.Seq != n+1 {
		t.Errorf("feed of %d tokens at seq %d, want %d at %d", len(b.Tokens), b.Seq, n, n+1)
	}
	if got := f.feedCounter(builds) - before; got != 1 {
		t.Errorf("a fetch of the unchanged list built the feed again: %d builds", got)
	}

	// A change made elsewhere (the CLI) is served at the next fetch.
	tok, err := f.tokens.Issue(ctx, issuer.Request{Subject: "frank", Audience: []string{"https://api"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.list.RevokeToken(ctx, tok.ID, revocation.Options{}); err != nil {
		t.Fatal(err)
	}
	if b, err = feed.Changes(ctx, 0); err != nil || len(b.Tokens) != n+1 || b.Seq != n+2 {
		t.Fatalf("feed after a revocation: %v; want %d tokens at seq %d", err, n+1, n+2)
	}
	// The changes after n+1 start at the step before it: they hold the
	// one revocation after n+1, and the few before it since the step.
	b, err = feed.Changes(ctx, n+1)
	if err != nil || len(b.Tokens) == 0 || len(b.Tokens) > server.FeedSinceStep+1 || b.Tokens[len(b.Tokens)-1].ID != revoked.TokenIDOf(tok.ID) {
		t.Fatalf("changes after %d: %d tokens, %v; want the revocation after it, from the step before", n+1, len(b.Tokens), err)
	}
	if got := f.feedCounter(builds) - before; got != 3 {
		t.Errorf("builds after the list changed: %d, want 3 (the whole list twice, the change once)", got)
	}
}

// TestFeedAndFileAgree: a snapshot following the server's feed and one
// reading the database give the same answers about a token revoked with
// the longest grace accepted, one ending at its expiry, around that time.
func TestFeedAndFileAgree(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tok, err := f.tokens.Issue(ctx, issuer.Request{Subject: "alice", Audience: []string{"https://api"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.list.RevokeToken(ctx, tok.ID, revocation.Options{Grace: time.Until(tok.ExpiresAt)}); err != nil {
		t.Fatal(err)
	}
	claims := &verifier.Claims{ID: tok.ID, Subject: "alice", KeyID: tok.KeyID, IssuedAt: tok.IssuedAt}
	feed := f.remoteFeed(f.remoteKeys(), nil)
	for _, at := range []time.Duration{-time.Second, 0, time.Second} {
		now := func() time.Time { return tok.ExpiresAt.Add(at) }
		var got []bool
		for _, src := range []revoked.Feed{feed, f.list} {
			snap, err := revoked.NewSnapshot(ctx, revoked.SnapshotConfig{Feed: src, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, errors.Is(snap.CheckRevocation(ctx, claims), verifier.ErrRevoked))
		}
		if got[0] != got[1] || got[0] != (at >= 0) {
			t.Errorf("at expiry%+v: revoked from the feed %v, from the file %v; want %v", at, got[0], got[1], at >= 0)
		}
	}
}

// A reader more than server.FeedMaxChanges changes behind is told to read the
// whole list, as a reader ahead is: whatever since values readers send, no
// document of nearly the whole list's size is built for each, and the one
// whole document is not evicted by them. A remote feed maps the answer to
// ErrAhead, on which a snapshot reads the whole list.
func TestFeedSinceTooOld(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const n = server.FeedMaxChanges + 100
	fillList(t, f.db, f.list, n)
	const builds = "writ_revocation_feed_builds_total"
	before := f.feedCounter(builds)
	for since := 1; since <= 40; since++ {
		code, _, body := f.do("GET", fmt.Sprintf("/v1/revocations?since=%d", since), "", "", "")
		if code != http.StatusConflict || !strings.Contains(body, "since_too_old") {
			t.Fatalf("since=%d: %d %.80s…; want 409 since_too_old", since, code, body)
		}
	}
	if got := f.feedCounter(builds) - before; got != 0 {
		t.Errorf("readers far behind had %d documents built", got)
	}
	if code, _, _ := f.do("GET", fmt.Sprintf("/v1/revocations?since=%d", n+1-server.FeedMaxChanges), "", "", ""); code != http.StatusOK {
		t.Errorf("a reader %d changes behind: %d, want 200", server.FeedMaxChanges, code)
	}
	feed := f.remoteFeed(f.remoteKeys(), nil)
	if _, err := feed.Changes(ctx, 1); !errors.Is(err, revoked.ErrAhead) {
		t.Errorf("remote feed far behind: %v, want ErrAhead (read it from 0)", err)
	}
	// Ahead, even with If-None-Match: *, is a 409.
	if code, _, _ := f.do("GET", fmt.Sprintf("/v1/revocations?since=%d", n+5), "", "", "", "If-None-Match", "*"); code != http.StatusConflict {
		t.Errorf("a reader ahead with If-None-Match: *: %d, want 409", code)
	}
}

// Readers whose since values lie within one FeedSinceStep share one
// document, which starts at the step: however many since values readers
// send, a state of the list has at most FeedMaxChanges/FeedSinceStep+1
// incremental documents built.
func TestFeedSinceShared(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const n = 3 * server.FeedSinceStep
	fillList(t, f.db, f.list, n)
	const builds = "writ_revocation_feed_builds_total"
	before := f.feedCounter(builds)
	feed := f.remoteFeed(f.remoteKeys(), nil)
	for since := int64(server.FeedSinceStep); since < 2*server.FeedSinceStep; since += 7 {
		b, err := feed.Changes(ctx, since)
		if err != nil || len(b.Tokens) != n-server.FeedSinceStep || b.Seq != n+1 {
			t.Fatalf("changes after %d: %v; want the %d tokens since the step", since, err, n-server.FeedSinceStep)
		}
	}
	if got := f.feedCounter(builds) - before; got != 1 {
		t.Errorf("since values within one step built %d documents, want 1", got)
	}
}
