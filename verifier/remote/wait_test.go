package remote_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/feed"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/remote"
)

// TestFeedWaitConfig: a wait, of a Feed or an EdgeFeed, is a whole number
// of seconds up to MaxFeedWait, and the client's timeout must exceed it.
func TestFeedWaitConfig(t *testing.T) {
	_, vk := newFeedKey(t, "kid-1")
	ks, err := verifier.NewKeySet(vk)
	if err != nil {
		t.Fatal(err)
	}
	base := remote.FeedConfig{URL: "https://issuer.test/v1/revocations", Issuer: feedIssuer, Keys: ks}
	for _, tt := range []struct {
		name   string
		wait   time.Duration
		client *http.Client
		ok     bool
	}{
		{"none", 0, nil, true},
		{"30s", 30 * time.Second, nil, true},
		{"the most", remote.MaxFeedWait, nil, true},
		{"beyond the most", remote.MaxFeedWait + time.Second, nil, false},
		{"negative", -time.Second, nil, false},
		{"not whole seconds", 1500 * time.Millisecond, nil, false},
		{"a client without timeout", 30 * time.Second, &http.Client{}, true},
		{"a client whose timeout exceeds it", 30 * time.Second, &http.Client{Timeout: 31 * time.Second}, true},
		{"a client whose timeout is the wait", 30 * time.Second, &http.Client{Timeout: 30 * time.Second}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			cfg.Wait, cfg.Client = tt.wait, tt.client
			f, err := remote.NewFeed(cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("Feed: %v, want ok %v", err, tt.ok)
			}
			if err == nil && f.Wait() != tt.wait {
				t.Errorf("Feed.Wait() = %v, want %v", f.Wait(), tt.wait)
			}
			ef, err := remote.NewEdgeFeed(remote.EdgeFeedConfig{URL: "https://issuer.test" + remote.ManifestPath, Issuer: feedIssuer, Keys: ks,
				Wait: tt.wait, Client: tt.client})
			if (err == nil) != tt.ok {
				t.Fatalf("EdgeFeed: %v, want ok %v", err, tt.ok)
			}
			if err == nil && ef.Wait() != tt.wait {
				t.Errorf("EdgeFeed.Wait() = %v, want %v", ef.Wait(), tt.wait)
			}
		})
	}
}

// TestFeedWaitRequest: WaitChanges asks the server to hold the read for
// the wait, in seconds; Changes never does, nor does a feed without a
// wait.
func TestFeedWaitRequest(t *testing.T) {
	ctx := context.Background()
	key, vk := newFeedKey(t, "kid-1")
	ks, err := verifier.NewKeySet(vk)
	if err != nil {
		t.Fatal(err)
	}
	srv := newFeedServer(t)
	head := feed.Head{Issuer: feedIssuer, IssuedAt: time.Now().Unix(), Epoch: "e1", Seq: 3}
	srv.set(http.StatusOK, key.sign(t, feed.Type, feed.Append(nil, &head, &feed.Batch{})))
	waiting, err := remote.NewFeed(remote.FeedConfig{URL: srv.URL, Issuer: feedIssuer, Keys: ks, Wait: 25 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	polled, err := remote.NewFeed(remote.FeedConfig{URL: srv.URL, Issuer: feedIssuer, Keys: ks})
	if err != nil {
		t.Fatal(err)
	}
	for _, read := range []func(context.Context, int64) (*feed.Batch, error){waiting.WaitChanges, waiting.Changes, polled.WaitChanges, polled.Changes} {
		if b, err := read(ctx, 3); err != nil || b.Seq != 3 {
			t.Fatalf("read: %+v, %v", b, err)
		}
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if want := []string{"25", "", "", ""}; !slices.Equal(srv.wait, want) {
		t.Errorf("waits asked: %q, want %q", srv.wait, want)
	}
}

// TestEdgeFeedWaitRequest: WaitChanges asks the server to hold the read of
// the manifest (epoch, seq and wait) only for a reader at the manifest it
// holds; Changes never does, nor does a feed without a wait. A static
// host ignores the query, and an old copy of the manifest is refused all
// the same.
func TestEdgeFeedWaitRequest(t *testing.T) {
	ctx := context.Background()
	key, ks := edgeKeys(t)
	site := newEdgeSite(t, key)
	now := time.Now().Unix()
	st := &edgeState{epoch: "e1", snapSeq: 1, universe: now - 60, seq: 3, iat: now - 10}
	oldDoc, _ := site.publish(st)
	st.seq, st.iat = 4, now
	site.publish(st)
	waiting, err := remote.NewEdgeFeed(remote.EdgeFeedConfig{URL: site.URL + remote.ManifestPath, Issuer: feedIssuer, Keys: ks, Wait: 25 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	polled, err := remote.NewEdgeFeed(remote.EdgeFeedConfig{URL: site.URL + remote.ManifestPath, Issuer: feedIssuer, Keys: ks})
	if err != nil {
		t.Fatal(err)
	}
	for i, read := range []struct {
		read  func(context.Context, int64) (*feed.Batch, error)
		since int64
	}{
		{waiting.WaitChanges, 0}, // no manifest held yet
		{waiting.WaitChanges, 4}, // at the manifest held
		{waiting.Changes, 4},
		{waiting.WaitChanges, 2}, // behind the manifest held
		{polled.WaitChanges, 0},
		{polled.WaitChanges, 4},
	} {
		if b, err := read.read(ctx, read.since); err != nil || b.Seq != 4 {
			t.Fatalf("read %d: %+v, %v", i, b, err)
		}
	}
	site.mu.Lock()
	want := []string{"", "epoch=e1&seq=4&wait=25", "", "", "", ""}
	if !slices.Equal(site.queries, want) {
		t.Errorf("queries: %q, want %q", site.queries, want)
	}
	site.mu.Unlock()
	site.write(feed.ManifestPath, []byte(oldDoc))
	if _, err := waiting.WaitChanges(ctx, 4); err == nil || !strings.Contains(err.Error(), "old copy") {
		t.Errorf("an old manifest read with a wait: %v, want an error naming an old copy", err)
	}
}
