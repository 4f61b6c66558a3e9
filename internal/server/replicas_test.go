package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store/postgres"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
)

// replicaIssuer is the URL that both replicas serve, as behind one load
// balancer.
const replicaIssuer = "https://writ.example"

// newReplicas starts two servers over two handles of one new PostgreSQL
// database, as two replicas of writ serve, each told of the changes by
// its own handle's watch. Their polling interval is an hour: what one
// sees of the other's changes within a test, the announcement brought.
func newReplicas(tb testing.TB) (a, b *fixture) {
	tb.Helper()
	ctx := context.Background()
	url := pgtest.Start(tb)
	mk, err := keys.GenerateMasterKeyFile(filepath.Join(tb.TempDir(), "master.key"))
	if err != nil {
		tb.Fatal(err)
	}
	var replicas [2]*fixture
	for i := range replicas {
		db, err := postgres.Open(ctx, url, true)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { db.Close() })
		ring, err := keys.OpenRing(ctx, keys.RingConfig{Store: db, MasterKey: mk, MaxTTL: issuer.DefaultMaxTTL})
		if err != nil {
			tb.Fatal(err)
		}
		if i == 0 {
			if _, err := ring.Ensure(ctx, verifier.EdDSA); err != nil {
				tb.Fatal(err)
			}
		}
		tokens, err := issuer.New(issuer.Config{Issuer: replicaIssuer, Keys: ring, Store: db})
		if err != nil {
			tb.Fatal(err)
		}
		list, err := revocation.NewList(revocation.Config{Store: db, MaxTTL: tokens.MaxTTL()})
		if err != nil {
			tb.Fatal(err)
		}
		changes, err := db.Watch(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		logs := &syncBuffer{}
		cfg := server.Config{Issuer: replicaIssuer, Ping: db.Ping, Ring: ring, Tokens: tokens, Revocations: list,
			MaxAge: time.Minute, Refresh: time.Hour, KeysChanged: changes.Keys, RevocationsChanged: changes.Revocations,
			Log: slog.New(slog.NewJSONHandler(logs, nil))}
		consoleOn(&cfg, db)
		srv, err := server.New(ctx, cfg)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(srv.Close)
		ts := httptest.NewServer(srv.Handler())
		tb.Cleanup(ts.Close)
		replicas[i] = &fixture{t: tb, url: ts.URL, tokens: tokens, list: list, ring: ring, logs: logs, srv: srv}
	}
	a, b = replicas[0], replicas[1]
	a.admin = a.issue("admin", []string{replicaIssuer}, server.AdminScope)
	return a, b
}

// issueToken issues a token for the replicas' own audience.
func (f *fixture) issueToken(subject string) *issuer.Token {
	f.t.Helper()
	tok, err := f.tokens.Issue(context.Background(), issuer.Request{Subject: subject, Audience: []string{replicaIssuer}})
	if err != nil {
		f.t.Fatal(err)
	}
	f.seen = append(f.seen, tok.Token)
	return tok
}

// eventually waits, for a generous time, until done reports true.
func eventually(tb testing.TB, what string, done func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(30 * time.Second); !done(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within 30s", what)
		}
	}
}

// TestReplicasFollowEachOther: a token revoked through one replica is
// refused by the other, and a key compromised through one leaves the
// other's key set, though neither polls the database within the test.
func TestReplicasFollowEachOther(t *testing.T) {
	a, b := newReplicas(t)
	whoami := func(tok string) int {
		code, _, _ := b.do("GET", "/v1/whoami", tok, "", "")
		return code
	}
	tok := a.issueToken("svc")
	if code := whoami(tok.Token); code != 200 {
		t.Fatalf("B: whoami of a new token = %d, want 200", code)
	}
	if code, _, body := a.do("POST", "/v1/tokens/"+tok.ID+"/revoke", a.admin, "", ""); code != 200 {
		t.Fatalf("A: revoke = %d %s", code, body)
	}
	eventually(t, "B refuses the token revoked through A", func() bool { return whoami(tok.Token) == 401 })

	// Compromise the signing key through A's keyring (as writ keys
	// compromise does): B stops publishing it and refuses its tokens.
	other := a.issueToken("other")
	if code := whoami(other.Token); code != 200 {
		t.Fatalf("B: whoami of a new token = %d, want 200", code)
	}
	jwks := func() string {
		code, _, body := b.do("GET", "/.well-known/jwks.json", "", "", "")
		if code != 200 {
			t.Fatalf("B: jwks = %d", code)
		}
		return body
	}
	if !strings.Contains(jwks(), `"`+other.KeyID+`"`) {
		t.Fatalf("B does not publish the signing key %q", other.KeyID)
	}
	if _, err := a.ring.Compromise(context.Background(), other.KeyID, revocation.Options{Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B drops the key compromised through A", func() bool { return !strings.Contains(jwks(), `"`+other.KeyID+`"`) })
	if code := whoami(other.Token); code != 401 {
		t.Errorf("B: whoami of a token of the compromised key = %d, want 401", code)
	}
}

// BenchmarkPropagation measures how long a token revoked through one
// replica takes to be refused by the other, which the benchmark asks
// every half millisecond: from the revocation request sent to replica A
// (p50-ms, p99-ms, max-ms), and from A's answer, once the revocation is
// committed (ack-p50-ms, ack-p99-ms), in milliseconds. Neither replica
// polls within the benchmark: only the announcement tells B. It runs
// with the replicas otherwise idle, and while clients issue tokens
// through both (issuing: 4 clients on each, in a closed loop).
//
//	WRIT_REQUIRE_POSTGRES=1 go test -run '^$' -bench Propagation -benchtime 1000x ./internal/server/
func BenchmarkPropagation(b *testing.B) {
	b.Run("idle", func(b *testing.B) { benchmarkPropagation(b, 0) })
	b.Run("issuing", func(b *testing.B) { benchmarkPropagation(b, 4) })
}

// benchmarkPropagation is BenchmarkPropagation with load clients issuing
// tokens through each replica meanwhile.
func benchmarkPropagation(b *testing.B, load int) {
	ra, rb := newReplicas(b)
	ctx, stop := context.WithCancel(context.Background())
	var clients sync.WaitGroup
	defer clients.Wait()
	defer stop()
	body := `{"subject":"load","audience":["https://api.example"],"ttl":"1h"}`
	for _, r := range []*fixture{ra, rb} {
		for range load {
			clients.Go(func() {
				for ctx.Err() == nil {
					req, _ := http.NewRequestWithContext(ctx, "POST", r.url+"/v1/tokens", strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+ra.admin)
					req.Header.Set("Content-Type", "application/json")
					if resp, err := http.DefaultClient.Do(req); err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
			})
		}
	}
	refused := func(tok string) bool {
		code, _, _ := rb.do("GET", "/v1/whoami", tok, "", "")
		switch code {
		case 200:
			return false
		case 401:
			return true
		}
		b.Fatalf("B: whoami = %d", code)
		return false
	}
	// From the request sent to A, and from A's answer: the change is
	// then committed, and announced.
	var took, sinceAck []time.Duration
	for b.Loop() {
		tok := ra.issueToken("svc")
		if refused(tok.Token) {
			b.Fatal("B refuses a new token")
		}
		start := time.Now()
		if code, _, body := ra.do("POST", "/v1/tokens/"+tok.ID+"/revoke", ra.admin, "", ""); code != 200 {
			b.Fatalf("A: revoke = %d %s", code, body)
		}
		ack := time.Now()
		for !refused(tok.Token) {
			if time.Since(start) > time.Minute {
				b.Fatal("B still accepts a token revoked through A a minute ago")
			}
			time.Sleep(500 * time.Microsecond)
		}
		took = append(took, time.Since(start))
		sinceAck = append(sinceAck, time.Since(ack))
	}
	ms := func(d []time.Duration, q float64) float64 {
		return float64(d[int(q*float64(len(d)-1))]) / float64(time.Millisecond)
	}
	slices.Sort(took)
	slices.Sort(sinceAck)
	b.ReportMetric(ms(took, 0.5), "p50-ms")
	b.ReportMetric(ms(took, 0.99), "p99-ms")
	b.ReportMetric(ms(took, 1), "max-ms")
	b.ReportMetric(ms(sinceAck, 0.5), "ack-p50-ms")
	b.ReportMetric(ms(sinceAck, 0.99), "ack-p99-ms")
}
