package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/issuer"
)

// freezeTransport lets a read of the revocation manifest reach the issuer
// and get its answer, then holds it while hold is set, as a process that
// Lambda froze after the handler returned holds a background read in
// flight.
type freezeTransport struct {
	next    http.RoundTripper
	hold    atomic.Bool
	gate    chan struct{}
	entered chan struct{}
}

func (f *freezeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := f.next.RoundTrip(r)
	if err != nil || !strings.HasSuffix(r.URL.Path, "/v1/revocations/manifest") || !f.hold.CompareAndSwap(true, false) {
		return resp, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	close(f.entered)
	<-f.gate // frozen
	return resp, nil
}

// TestRefreshAfterFreeze: the first invocation after a freeze longer than
// the bound, which caught a refresh in flight, does not answer 503 from
// that refresh's old data while the issuer is reachable: it refreshes
// once more, and answers 200.
func TestRefreshAfterFreeze(t *testing.T) {
	const bound = 4 * time.Second
	fx := newFixture(t, serve)
	tr := &freezeTransport{next: http.DefaultTransport, gate: make(chan struct{}), entered: make(chan struct{})}
	var thaw sync.Once
	t.Cleanup(func() { thaw.Do(func() { close(tr.gate) }) }) // else Close waits for the held read
	cfg := fx.config()
	cfg.Transport = tr
	// The bound is well above what a loaded machine stalls for; the
	// refresh timeout, above what the refreshes take on one.
	cfg.Refresh, cfg.MaxStaleness, cfg.RefreshTimeout = 200*time.Millisecond, bound, 10*time.Second
	f := newFunction(t, cfg)
	tok := fx.issue(t, issuer.Request{Subject: "alice"}).Token
	// Data just read, then older than Refresh: the next invocation
	// starts a refresh, and does not wait for it.
	f.waitRefresh()
	f.mu.Lock()
	f.lastTry = time.Time{}
	f.mu.Unlock()
	<-f.startRefresh()
	time.Sleep(2 * cfg.Refresh)
	tr.hold.Store(true)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a wait for the held read would never end
	defer cancel()
	if resp, err := f.Handle(ctx, event(tok, "192.0.2.1")); err != nil || resp.StatusCode != 200 {
		t.Fatalf("before the freeze: %d %s %v (data %v old)", resp.StatusCode, resp.Body, err, f.snap.Staleness())
	}
	select {
	case <-tr.entered: // the background read has its answer: the process freezes now
	case <-time.After(time.Minute):
		t.Fatal("the invocation started no refresh")
	}
	time.Sleep(bound + time.Second) // frozen past the bound: what the held read has is older still
	go func() { time.Sleep(50 * time.Millisecond); thaw.Do(func() { close(tr.gate) }) }()
	if resp := handle(t, f, event(tok, "192.0.2.1")); resp.StatusCode != 200 {
		t.Errorf("the first invocation after the freeze: %d %q, want 200: the issuer is reachable", resp.StatusCode, strings.TrimSpace(resp.Body))
	}
}
