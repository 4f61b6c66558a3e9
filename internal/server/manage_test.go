package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/revocation"
)

// TestPolicyAPI: GET and PUT /v1/policy read and set the lifetime
// policy, admins only, within bounds, and issuing applies it.
func TestPolicyAPI(t *testing.T) {
	f := newFixture(t)
	if code, _, body := f.do("GET", "/v1/policy", f.admin, "", ""); code != 200 || compact(t, body) != `{"max_ttl":"90d","max_ttl_seconds":7776000,"default":true}` {
		t.Fatalf("GET /v1/policy: %d %s", code, body)
	}
	if code, _, _ := f.do("PUT", "/v1/policy", "", "application/json", `{"max_ttl":"365d"}`); code != 401 {
		t.Errorf("PUT /v1/policy without a token: %d", code)
	}
	user := f.issue("user", []string{f.url}, "orders:read")
	if code, _, _ := f.do("PUT", "/v1/policy", user, "application/json", `{"max_ttl":"365d"}`); code != 403 {
		t.Errorf("PUT /v1/policy without writ:admin: %d", code)
	}
	for _, body := range []string{`{}`, `{"max_ttl":"0s"}`, `{"max_ttl":"30s"}`, `{"max_ttl":"10000d"}`, `{"max_ttl":"-1d"}`, `{"max_ttl":"x"}`, `{"max_ttl":"1d","other":1}`} {
		if code, _, resp := f.do("PUT", "/v1/policy", f.admin, "application/json", body); code != 400 {
			t.Errorf("PUT /v1/policy %s: %d %s", body, code, resp)
		}
	}
	issue := `{"subject":"s","audience":["a"],"ttl":"200d"}`
	if code, _, body := f.do("POST", "/v1/tokens", f.admin, "application/json", issue); code != 400 || !strings.Contains(body, "exceeds the maximum") {
		t.Fatalf("200 days under the default policy: %d %s", code, body)
	}
	if code, _, body := f.do("PUT", "/v1/policy", f.admin, "application/json", `{"max_ttl":"365d"}`); code != 200 || compact(t, body) != `{"max_ttl":"365d","max_ttl_seconds":31536000,"default":false}` {
		t.Fatalf("PUT /v1/policy: %d %s", code, body)
	}
	if code, _, body := f.do("POST", "/v1/tokens", f.admin, "application/json", issue); code != 201 {
		t.Fatalf("200 days under a 365-day policy: %d %s", code, body)
	}
	if code, _, body := f.do("GET", "/v1/policy", f.admin, "", ""); code != 200 || !strings.Contains(compact(t, body), `"max_ttl":"365d"`) {
		t.Fatalf("GET /v1/policy after PUT: %d %s", code, body)
	}
}

// TestPolicyAcrossReplicas: a policy set through one replica is applied
// by the other at once.
func TestPolicyAcrossReplicas(t *testing.T) {
	a, b := newReplicas(t)
	issue := `{"subject":"s","audience":["a"],"ttl":"100d"}`
	if code, _, body := b.do("POST", "/v1/tokens", a.admin, "application/json", issue); code != 400 {
		t.Fatalf("100 days under the default policy: %d %s", code, body)
	}
	if code, _, body := a.do("PUT", "/v1/policy", a.admin, "application/json", `{"max_ttl":"120d"}`); code != 200 {
		t.Fatalf("PUT /v1/policy: %d %s", code, body)
	}
	if code, _, body := b.do("POST", "/v1/tokens", a.admin, "application/json", issue); code != 201 {
		t.Fatalf("100 days through the other replica: %d %s", code, body)
	}
	if code, _, body := a.do("PUT", "/v1/policy", a.admin, "application/json", `{"max_ttl":"50d"}`); code != 200 {
		t.Fatalf("PUT /v1/policy: %d %s", code, body)
	}
	if code, _, body := b.do("POST", "/v1/tokens", a.admin, "application/json", issue); code != 400 {
		t.Fatalf("100 days once the other replica lowered the policy: %d %s", code, body)
	}
}

// compact returns the JSON body without its spaces and newlines.
func compact(t *testing.T, body string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(body)); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return b.String()
}

type tokenPage struct {
	Tokens []issuer.Record
	Next   string
}

// TestListTokenPages: GET /v1/tokens pages with limit and cursor, each
// token once; it selects by expiry and parent; bad parameters are 400.
func TestListTokenPages(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	want := map[string]bool{}
	for n := range 7 {
		tok, err := f.tokens.Issue(ctx, issuer.Request{Subject: "svc", Audience: []string{"api"}, TTL: time.Duration(n+1) * 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		want[tok.ID] = true
	}
	seen := map[string]int{}
	path := "/v1/tokens?subject=svc&limit=3"
	for pages := 1; ; pages++ {
		code, _, body := f.do("GET", path, f.admin, "", "")
		var p tokenPage
		if err := json.Unmarshal([]byte(body), &p); code != 200 || err != nil || pages > 3 {
			t.Fatalf("page %d: %d %s", pages, code, body)
		}
		for _, r := range p.Tokens {
			seen[r.ID]++
		}
		if p.Next == "" {
			if pages != 3 {
				t.Errorf("%d pages of 3 for 7 tokens", pages)
			}
			break
		}
		if strings.Contains(compact(t, body), `"next":""`) {
			t.Errorf("an empty next: %s", body)
		}
		path = "/v1/tokens?subject=svc&limit=3&cursor=" + p.Next
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("%s listed %d times", id, seen[id])
		}
	}
	code, _, body := f.do("GET", "/v1/tokens?subject=svc&expiring_within=2d", f.admin, "", "")
	var p tokenPage
	if err := json.Unmarshal([]byte(body), &p); code != 200 || err != nil || len(p.Tokens) != 2 {
		t.Errorf("expiring within 2 days: %d %s", code, body)
	}
	for _, q := range []string{"expiring_within=0s", "expiring_within=-1d", "expiring_within=x", "cursor=x", "limit=0", "status=revoked&expiring_within=1d", "subject=a&subject=b", "parents=x"} {
		if code, _, body := f.do("GET", "/v1/tokens?"+q, f.admin, "", ""); code != 400 {
			t.Errorf("GET /v1/tokens?%s: %d %s", q, code, body)
		}
	}
}

// TestTokenManagementAPI: a description is recorded and shown; a second
// live token of a name is 409 naming the first; GET /v1/tokens/{jti}
// tells a scheduled revocation and lists children; the metric counts the
// tokens expiring within 7 days.
func TestTokenManagementAPI(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	issue := `{"subject":"svc","audience":["api"],"name":"deploy","description":"CI deploys","ttl":"3d"}`
	code, _, body := f.do("POST", "/v1/tokens", f.admin, "application/json", issue)
	var first struct{ JTI string }
	if err := json.Unmarshal([]byte(body), &first); code != 201 || err != nil {
		t.Fatalf("issue: %d %s", code, body)
	}
	if code, _, body := f.do("POST", "/v1/tokens", f.admin, "application/json", issue); code != 409 || !strings.Contains(body, first.JTI) {
		t.Errorf("a second live token named deploy: %d %s", code, body)
	}
	if code, _, body := f.do("POST", "/v1/tokens", f.admin, "application/json", `{"subject":"svc","audience":["api"],"description":"a\nb"}`); code != 400 {
		t.Errorf("a description on two lines: %d %s", code, body)
	}
	child, err := f.tokens.Issue(ctx, issuer.Request{Subject: "svc", Audience: []string{"api"}, Parent: first.JTI, TTL: 2 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.list.RevokeToken(ctx, first.JTI, revocation.Options{Reason: "rotated", Actor: "ops", Grace: time.Hour}); err != nil {
		t.Fatal(err)
	}
	code, _, body = f.do("GET", "/v1/tokens/"+first.JTI, f.admin, "", "")
	var d issuer.Details
	if err := json.Unmarshal([]byte(body), &d); code != 200 || err != nil {
		t.Fatalf("show: %d %s", code, body)
	}
	if d.Description != "CI deploys" || d.Status != issuer.StatusActive || d.Revocation == nil || !d.Revocation.Scheduled ||
		d.Revocation.Reason != "rotated" || len(d.Children) != 1 || d.Children[0].ID != child.ID {
		t.Errorf("show: %s", body)
	}
	_, _, metrics := f.do("GET", "/metrics", "", "", "")
	// deploy (3 days), its child (2 days: a child ends by its parent's
	// expiry) and the admin token (1 hour).
	if want := "writ_tokens_expiring_soon 3\n"; !strings.Contains(metrics, want) {
		t.Errorf("metrics lack %q", want)
	}
	if code, _, body := f.do("GET", "/v1/tokens?parent="+first.JTI, f.admin, "", ""); code != 200 || !strings.Contains(body, child.ID) {
		t.Errorf("list by parent: %d %s", code, body)
	}
}
