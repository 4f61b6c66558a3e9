package verifier_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/verifier"
)

// uses is a UsageRecorder that keeps what it is told.
type uses struct {
	mu   sync.Mutex
	list []verifier.Use
}

func (u *uses) RecordUse(use verifier.Use) {
	u.mu.Lock()
	u.list = append(u.list, use)
	u.mu.Unlock()
}

// take returns the uses recorded since the last take.
func (u *uses) take() []verifier.Use {
	u.mu.Lock()
	defer u.mu.Unlock()
	l := u.list
	u.list = nil
	return l
}

// check fails unless exactly want was recorded since the last take, or
// nothing when want.Outcome is "".
func (u *uses) check(t testing.TB, want verifier.Use) {
	t.Helper()
	got := u.take()
	switch {
	case want.Outcome == "" && len(got) != 0:
		t.Fatalf("recorded %+v, want nothing", got)
	case want.Outcome != "" && (len(got) != 1 || got[0] != want):
		t.Fatalf("recorded %+v, want one %+v", got, want)
	}
}

func TestUsageRecorded(t *testing.T) {
	fx := fixedKeys()
	inside := netip.MustParseAddr("192.0.2.7")
	outside := netip.MustParseAddr("198.51.100.1")
	bound := set("allowed_ips", []string{"192.0.2.0/24"})
	valid := fx.ed.jwt(nil, nil)
	tampered := valid[:len(valid)-2] + map[bool]string{true: "AA", false: "BA"}[strings.HasSuffix(valid, "AA")]
	for _, tc := range []struct {
		name    string
		token   string
		client  netip.Addr
		checker error  // the revocation checker's answer
		outcome string // "" when nothing may be recorded
	}{
		{name: "accepted", token: valid, client: inside, outcome: verifier.OutcomeAccepted},
		{name: "accepted without client", token: valid, outcome: verifier.OutcomeAccepted},
		{name: "accepted PASETO", token: fx.pk.paseto(nil), client: inside, outcome: verifier.OutcomeAccepted},
		{name: "accepted ES256", token: fx.es.jwt(nil, nil), client: inside, outcome: verifier.OutcomeAccepted},
		{name: "expired", token: fx.ed.jwt(nil, set("exp", testNow.Add(-time.Hour))), client: inside, outcome: verifier.OutcomeExpired},
		{name: "not yet valid", token: fx.ed.jwt(nil, set("nbf", testNow.Add(time.Hour))), client: inside, outcome: verifier.OutcomeNotYetValid},
		{name: "issued in the future", token: fx.pk.paseto(set("iat", testNow.Add(time.Hour))), client: inside, outcome: verifier.OutcomeNotYetValid},
		{name: "audience", token: fx.ed.jwt(nil, set("aud", "other")), client: inside, outcome: verifier.OutcomeAudience},
		{name: "issuer", token: fx.ed.jwt(nil, set("iss", "https://other.test")), client: inside, outcome: verifier.OutcomeIssuer},
		{name: "client outside the networks", token: fx.ed.jwt(nil, bound), client: outside, outcome: verifier.OutcomeClientIP},
		{name: "client unknown, token bound", token: fx.ed.jwt(nil, bound), outcome: verifier.OutcomeClientIP},
		{name: "client inside the networks", token: fx.ed.jwt(nil, bound), client: inside, outcome: verifier.OutcomeAccepted},
		{name: "revoked", token: valid, client: inside, checker: fmt.Errorf("%w: jti", verifier.ErrRevoked), outcome: verifier.OutcomeRevoked},
		{name: "revocation data too stale", token: valid, client: inside, checker: errors.New("snapshot 3h old"), outcome: verifier.OutcomeUnavailable},
		// Never recorded: the jti of a token whose signature did not verify is anyone's.
		{name: "unknown key", token: fx.other.jwt(nil, nil), client: inside},
		{name: "bad signature", token: tampered, client: inside},
		{name: "signed by another key under a known kid", token: fx.other.jwt(set("kid", fx.ed.kid), nil), client: inside},
		{name: "malformed", token: "not-a-token", client: inside},
		{name: "too large", token: strings.Repeat("a", verifier.MaxTokenSize+1), client: inside},
		{name: "wrong type", token: fx.ed.jwt(set("typ", "JWT"), nil), client: inside},
		{name: "algorithm not accepted", token: fx.ed.jwt(set("alg", "HS256"), nil), client: inside},
		{name: "signed claims without jti", token: fx.ed.jwt(nil, del("jti")), client: inside},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, cacheSize := range []int{0, 8} {
				rec := &uses{}
				v := newVerifier(t, fx.keys, func(c *verifier.Config) {
					c.Usage = rec
					c.CacheSize = cacheSize
					c.Revocation = &fakeChecker{err: tc.checker}
				})
				_, err := v.VerifyFrom(context.Background(), tc.token, tc.client)
				if (err == nil) != (tc.outcome == verifier.OutcomeAccepted) {
					t.Fatalf("cache %d: VerifyFrom: %v", cacheSize, err)
				}
				rec.check(t, verifier.Use{JTI: testJTI, At: testNow, Client: tc.client, Outcome: tc.outcome})
			}
		})
	}
}

// TestUsageRecordedFromCache: a token answered from the cache is
// recorded as one answered in full, refusals included.
func TestUsageRecordedFromCache(t *testing.T) {
	fx := fixedKeys()
	rec := &uses{}
	checker := &fakeChecker{}
	var now atomic.Pointer[time.Time]
	now.Store(&testNow)
	v := newVerifier(t, fx.keys, func(c *verifier.Config) {
		c.Usage = rec
		c.CacheSize = 8
		c.Revocation = checker
		c.Now = func() time.Time { return *now.Load() }
	})
	inside := netip.MustParseAddr("192.0.2.7")
	token := fx.ed.jwt(nil, set("allowed_ips", []string{"192.0.2.0/24"}))
	ctx := context.Background()
	later := testNow.Add(2 * time.Hour) // past the token's exp
	steps := []struct {
		client  netip.Addr
		checker error
		at      time.Time
		outcome string
	}{
		{inside, nil, testNow, verifier.OutcomeAccepted}, // verified in full, cached
		{inside, nil, testNow, verifier.OutcomeAccepted}, // from the cache
		{netip.MustParseAddr("203.0.113.1"), nil, testNow, verifier.OutcomeClientIP},
		{inside, nil, testNow, verifier.OutcomeAccepted},
		{inside, verifier.ErrRevoked, testNow, verifier.OutcomeRevoked}, // and out of the cache
		{inside, nil, testNow, verifier.OutcomeAccepted},
		{inside, nil, later, verifier.OutcomeExpired},
	}
	for i, s := range steps {
		checker.err = s.checker
		now.Store(&s.at)
		_, err := v.VerifyFrom(ctx, token, s.client)
		if (err == nil) != (s.outcome == verifier.OutcomeAccepted) {
			t.Fatalf("step %d: %v", i, err)
		}
		rec.check(t, verifier.Use{JTI: testJTI, At: s.at, Client: s.client, Outcome: s.outcome})
	}
}

func TestRecordRefusal(t *testing.T) {
	fx := fixedKeys()
	rec := &uses{}
	v := newVerifier(t, fx.keys, func(c *verifier.Config) { c.Usage = rec })
	if !v.RecordsUsage() || newVerifier(t, fx.keys, nil).RecordsUsage() {
		t.Fatal("RecordsUsage does not say whether Config.Usage is set")
	}
	client := netip.MustParseAddr("2001:db8::1")
	c, err := v.VerifyFrom(context.Background(), fx.ed.jwt(nil, nil), client)
	if err != nil {
		t.Fatal(err)
	}
	rec.take()
	for _, tc := range []struct {
		name    string
		err     error
		outcome string // "" when nothing may be recorded
	}{
		{"scope", c.RequireScopes("admin"), verifier.OutcomeScope},
		{"permission", c.RequirePermission("orders/42", "read"), verifier.OutcomePermission},
		{"no refusal", c.RequireScopes("write"), ""},
		{"another error", errors.New("quota"), ""},
		{"a verify error", verifier.ErrExpired, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v.RecordRefusal(c, client, tc.err)
			rec.check(t, verifier.Use{JTI: testJTI, At: testNow, Client: client, Outcome: tc.outcome})
		})
	}
	// Without a recorder it does nothing (and does not panic).
	newVerifier(t, fx.keys, nil).RecordRefusal(c, client, c.RequireScopes("admin"))
}

// discard is a UsageRecorder that does nothing.
type discard struct{}

func (discard) RecordUse(verifier.Use) {}

// TestUsageAllocations: a recorder costs Verify no allocation.
func TestUsageAllocations(t *testing.T) {
	fx := fixedKeys()
	token := fx.ed.jwt(nil, nil)
	client := netip.MustParseAddr("10.1.2.3")
	ctx := context.Background()
	allocs := func(rec verifier.UsageRecorder) float64 {
		v := newVerifier(t, fx.keys, func(c *verifier.Config) { c.Usage = rec })
		return testing.AllocsPerRun(50, func() {
			if _, err := v.VerifyFrom(ctx, token, client); err != nil {
				t.Fatal(err)
			}
		})
	}
	without, with := allocs(nil), allocs(discard{})
	if with != without {
		t.Fatalf("Verify allocates %v times with a recorder, %v without", with, without)
	}
}
