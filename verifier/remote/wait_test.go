package remote_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/feed"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/remote"
)

// TestFeedWaitConfig: a wait is a whole number of seconds up to
// MaxFeedWait, and the client's timeout must exceed it.
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
				t.Fatalf("%v, want ok %v", err, tt.ok)
			}
			if err == nil && f.Wait() != tt.wait {
				t.Errorf("Wait() = %v, want %v", f.Wait(), tt.wait)
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
