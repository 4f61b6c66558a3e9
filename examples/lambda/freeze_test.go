package main

import (
	"bytes"
	"io"
	"net/http"
	"strings"
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
	fx := newFixture(t, serve)
	tr := &freezeTransport{next: http.DefaultTransport, gate: make(chan struct{}), entered: make(chan struct{})}
	cfg := fx.config()
	cfg.Transport = tr
	cfg.Refresh, cfg.MaxStaleness = 200*time.Millisecond, 2*time.Second
	f := newFunction(t, cfg)
	f.waitRefresh()
	tok := fx.issue(t, issuer.Request{Subject: "alice"}).Token
	f.waitRefresh()
	time.Sleep(1100 * time.Millisecond) // past Refresh, within the bound
	tr.hold.Store(true)
	if resp := handle(t, f, event(tok, "192.0.2.1")); resp.StatusCode != 200 {
		t.Fatalf("before the freeze: %d %s", resp.StatusCode, resp.Body)
	}
	<-tr.entered                // the background read has its answer: the process freezes now
	time.Sleep(3 * time.Second) // frozen past the bound
	go func() { time.Sleep(50 * time.Millisecond); close(tr.gate) }()
	if resp := handle(t, f, event(tok, "192.0.2.1")); resp.StatusCode != 200 {
		t.Errorf("the first invocation after the freeze: %d %q, want 200: the issuer is reachable", resp.StatusCode, strings.TrimSpace(resp.Body))
	}
}
