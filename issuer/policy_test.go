package issuer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
)

const day = 24 * time.Hour

// TestPolicy: the maximum lifetime is the database's policy, 90 days by
// default, set within bounds and audited; it applies to new tokens only,
// shortens the default lifetime and a regenerated token's, and a second
// issuer on the database applies it at once.
func TestPolicy(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, verifier.EdDSA, nil)
	other, err := issuer.New(issuer.Config{Issuer: testIssuer, Keys: e.ring, Store: e.db, Now: clock, UnsafeDatabaseNow: clock})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := e.issuer.Policy(ctx); err != nil || p.MaxTTL != 90*day || !p.Default {
		t.Fatalf("Policy of a new database = %+v, %v", p, err)
	}
	for _, d := range []time.Duration{0, -time.Hour, time.Second, 59 * time.Second, 5*365*day + time.Second, 90*day + time.Millisecond} {
		if _, err := e.issuer.SetPolicy(ctx, d, "alice"); !errors.Is(err, issuer.ErrRequest) {
			t.Errorf("SetPolicy(%v) = %v, want ErrRequest", d, err)
		}
	}
	long := e.issue(t, issuer.Request{Subject: "svc", TTL: 90 * day})
	other.Issue(ctx, issuer.Request{Subject: "svc", Audience: []string{testAudience}}) // caches the default policy
	if _, err := e.issuer.SetPolicy(ctx, 365*day, "alice"); err != nil {
		t.Fatal(err)
	}
	if tok, err := other.Issue(ctx, issuer.Request{Subject: "svc", Audience: []string{testAudience}, TTL: 200 * day}); err != nil || tok.ExpiresAt.Sub(tok.IssuedAt) != 200*day {
		t.Fatalf("a policy raised by another issuer, applied at once: %v, %v", tok, err)
	}
	if _, err := e.issuer.SetPolicy(ctx, 30*time.Minute, "alice"); err != nil {
		t.Fatal(err)
	}
	// other read 365 days a moment ago: the record refuses what the
	// database's policy does not allow.
	if _, err := other.Issue(ctx, issuer.Request{Subject: "svc", Audience: []string{testAudience}, TTL: 2 * time.Hour}); !errors.Is(err, issuer.ErrRequest) || !strings.Contains(err.Error(), "exceeds the maximum 30m") {
		t.Fatalf("a token over a policy lowered by another issuer: %v", err)
	}
	if p, err := other.Policy(ctx); err != nil || p.MaxTTL != 30*time.Minute || p.Default {
		t.Fatalf("Policy = %+v, %v", p, err)
	}
	// The default lifetime (1h) is shortened to the maximum.
	if tok := e.issue(t, issuer.Request{Subject: "svc"}); tok.ExpiresAt.Sub(tok.IssuedAt) != 30*time.Minute {
		t.Errorf("default lifetime under a 30m policy: %v", tok.ExpiresAt.Sub(tok.IssuedAt))
	}
	// A token issued before keeps its lifetime; its replacement gets the
	// maximum.
	if rec, err := e.issuer.Get(ctx, long.ID); err != nil || !rec.ExpiresAt.Equal(long.ExpiresAt) {
		t.Fatalf("the earlier token: %+v, %v", rec, err)
	}
	repl, err := e.issuer.Regenerate(ctx, long.ID, revocation.Options{Actor: "alice"})
	if err != nil || repl.ExpiresAt.Sub(repl.IssuedAt) != 30*time.Minute {
		t.Fatalf("Regenerate under a lower policy: %+v, %v", repl, err)
	}
	log, err := e.db.AuditList(ctx, store.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var details []string
	for _, ev := range log {
		if ev.Action == "policy.set" && ev.Actor == "alice" {
			details = append(details, ev.Detail)
		}
	}
	if want := []string{"max_ttl 31536000s (was 7776000s)", "max_ttl 1800s (was 31536000s)"}; fmt.Sprint(details) != fmt.Sprint(want) {
		t.Errorf("policy events = %q, want %q", details, want)
	}
}

// TestPolicyKeepsRevocations: subject and key entries last as long as the
// longest lifetime the policy ever allowed, lowered or not.
func TestPolicyKeepsRevocations(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, verifier.EdDSA, nil)
	list, err := revocation.NewList(revocation.Config{Store: e.db, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	e.issue(t, issuer.Request{Subject: "a"})
	e.issue(t, issuer.Request{Subject: "b"})
	if _, err := e.issuer.SetPolicy(ctx, 400*day, "alice"); err != nil {
		t.Fatal(err)
	}
	en, err := list.RevokeSubject(ctx, "a", testNow, revocation.Options{})
	if err != nil || en.ExpiresAt.Sub(en.IssuedBefore) != 400*day {
		t.Fatalf("a subject entry under a 400-day policy: %+v, %v", en, err)
	}
	if _, err := e.issuer.SetPolicy(ctx, day, "alice"); err != nil {
		t.Fatal(err)
	}
	en, err = list.RevokeSubject(ctx, "b", testNow, revocation.Options{})
	if err != nil || en.ExpiresAt.Sub(en.IssuedBefore) != 400*day {
		t.Fatalf("a subject entry after the policy was lowered: %+v, %v", en, err)
	}
}
