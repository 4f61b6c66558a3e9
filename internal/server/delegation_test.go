package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/verifier"
)

// TestDelegatedIssuing: a token with writ:issue issues, through the admin
// API, tokens within its own grants and nothing else, each refusal a 403
// naming the rule; the child records its parent, verifies, and is revoked
// with it. The rest of the admin API, but for listing, reading and
// revoking its own (TestDelegatorManagesOwnTokens), stays writ:admin's.
func TestDelegatedIssuing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tok, err := f.tokens.Issue(ctx, issuer.Request{Subject: "alice", Audience: []string{f.url, "https://api"}, TTL: 2 * time.Hour,
		Scopes: []string{issuer.IssueScope, "orders/*:write", "deploy"}})
	if err != nil {
		t.Fatal(err)
	}
	parent := tok.Token
	f.seen = append(f.seen, parent)
	tooLate := time.Now().Add(3 * time.Hour).UTC().Format(time.RFC3339)
	for _, tc := range []struct{ name, body, want string }{
		{"other subject", `{"subject":"bob","audience":["https://api"]}`, `subject \"bob\" is not the issuing token's subject \"alice\"`},
		{"wider resource", `{"subject":"alice","audience":["https://api"],"scopes":["orders/**:read"]}`, `scope \"orders/**:read\" is not implied by the issuing token's scopes`},
		{"higher action", `{"subject":"alice","audience":["https://api"],"scopes":["orders/42:admin"]}`, `scope \"orders/42:admin\" is not implied`},
		{"other flat scope", `{"subject":"alice","audience":["https://api"],"scopes":["admin"]}`, `scope \"admin\" is not implied`},
		{"writ:issue", `{"subject":"alice","audience":["https://api"],"scopes":["writ:issue"]}`, `scope \"writ:issue\" is writ's own`},
		{"writ:admin", `{"subject":"alice","audience":["https://api"],"scopes":["writ:admin"]}`, `scope \"writ:admin\" is writ's own`},
		{"other audience", `{"subject":"alice","audience":["https://other"]}`, `audience \"https://other\" is not one of the issuing token's audiences`},
		{"longer lifetime", `{"subject":"alice","audience":["https://api"],"ttl":"3h"}`, `is after the issuing token's expiry`},
		{"later expiry", `{"subject":"alice","audience":["https://api"],"expires":"` + tooLate + `"}`, `expiry ` + tooLate + ` is after the issuing token's expiry`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := f.do("POST", "/v1/tokens", parent, "application/json", tc.body)
			if code != 403 || !strings.Contains(body, `"error_description": "delegation: `) || !strings.Contains(body, tc.want) {
				t.Errorf("%d %s, want 403 naming %s", code, body, tc.want)
			}
		})
	}
	// A malformed request is still 400.
	if code, _, body := f.do("POST", "/v1/tokens", parent, "application/json", `{"subject":"alice","audience":[]}`); code != 400 {
		t.Errorf("malformed: %d %s", code, body)
	}
	// Issuing takes writ:admin or writ:issue; the rest of the admin API
	// takes writ:admin.
	if code, h, _ := f.do("POST", "/v1/tokens", f.issue("alice", []string{f.url}, "deploy"), "application/json", `{"subject":"alice","audience":["https://api"]}`); code != 403 || !strings.Contains(h.Get("WWW-Authenticate"), `scope="`+server.AdminScope+` `+issuer.IssueScope+`"`) {
		t.Errorf("without either scope: %d %v", code, h)
	}
	if code, _, _ := f.do("POST", "/v1/tokens/"+tok.ID+"/regenerate", parent, "", ""); code != 403 {
		t.Errorf("writ:issue regenerates: %d", code)
	}

	code, _, body := f.do("POST", "/v1/tokens", parent, "application/json",
		`{"subject":"alice","audience":["https://api","`+f.url+`"],"scopes":["orders/42:read","deploy"],"ttl":"1h","format":"jwt"}`)
	if code != 201 {
		t.Fatalf("valid child: %d %s", code, body)
	}
	var child struct{ Token, JTI string }
	json.Unmarshal([]byte(body), &child)
	f.seen = append(f.seen, child.Token)
	_, _, jwks := f.do("GET", "/.well-known/jwks.json", "", "", "")
	ks, _ := verifier.ParseJWKS([]byte(jwks))
	v, _ := verifier.New(verifier.Config{Issuer: f.url, Audience: "https://api", Algorithms: []verifier.Algorithm{verifier.EdDSA}, Keys: ks})
	if c, err := v.Verify(ctx, child.Token); err != nil || c.Subject != "alice" || c.Scope != "orders/42:read deploy" {
		t.Errorf("child: %+v, %v", c, err)
	}
	code, _, body = f.do("GET", "/v1/tokens/"+child.JTI, f.admin, "", "")
	if code != 200 || !strings.Contains(body, `"parent": "`+tok.ID+`"`) || !strings.Contains(body, `"issued_by": "api:alice (`+tok.ID+`)"`) {
		t.Errorf("child's record: %d %s", code, body)
	}
	// The child, for the server's audience but without writ:issue, may
	// not issue.
	if code, _, _ := f.do("POST", "/v1/tokens", child.Token, "application/json", `{"subject":"alice","audience":["https://api"]}`); code != 403 {
		t.Errorf("the child issues: %d", code)
	}

	// Revoking the parent revokes the child.
	if code, _, body := f.do("POST", "/v1/tokens/"+tok.ID+"/revoke", f.admin, "application/json", `{"reason":"leaked"}`); code != 200 {
		t.Fatalf("revoke parent: %d %s", code, body)
	}
	code, _, body = f.do("GET", "/v1/tokens/"+child.JTI, f.admin, "", "")
	if code != 200 || !strings.Contains(body, `"status": "revoked"`) {
		t.Errorf("child after its parent's revocation: %d %s", code, body)
	}
	if code, h, _ := f.do("GET", "/v1/whoami?audience=https://api", child.Token, "", ""); code != 401 || !strings.Contains(h.Get("WWW-Authenticate"), "token revoked") {
		t.Errorf("whoami with the child: %d %v", code, h)
	}
	if code, _, _ := f.do("POST", "/v1/tokens", parent, "application/json", `{"subject":"alice","audience":["https://api"]}`); code != 401 {
		t.Errorf("the revoked parent issues: %d", code)
	}
}

// TestDelegatorManagesOwnTokens: a token with writ:issue lists and reads
// the tokens of its own subject, and revokes itself and the tokens it
// issued, nothing else.
func TestDelegatorManagesOwnTokens(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tok, err := f.tokens.Issue(ctx, issuer.Request{Subject: "alice", Audience: []string{f.url, "https://api"}, Scopes: []string{issuer.IssueScope}})
	if err != nil {
		t.Fatal(err)
	}
	parent := tok.Token
	f.seen = append(f.seen, parent)
	sibling, err := f.tokens.Issue(ctx, issuer.Request{Subject: "alice", Audience: []string{"https://api"}})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := f.tokens.Issue(ctx, issuer.Request{Subject: "bob", Audience: []string{"https://api"}})
	if err != nil {
		t.Fatal(err)
	}
	code, _, body := f.do("POST", "/v1/tokens", parent, "application/json", `{"subject":"alice","audience":["https://api"]}`)
	var child struct{ Token, JTI string }
	if json.Unmarshal([]byte(body), &child); code != 201 {
		t.Fatalf("child: %d %s", code, body)
	}
	f.seen = append(f.seen, child.Token)

	code, _, body = f.do("GET", "/v1/tokens", parent, "", "")
	if code != 200 || !strings.Contains(body, child.JTI) || !strings.Contains(body, sibling.ID) || strings.Contains(body, bob.ID) || strings.Contains(body, `"subject": "admin"`) {
		t.Errorf("list: %d %s", code, body)
	}
	if code, _, body := f.do("GET", "/v1/tokens?subject=bob", parent, "", ""); code != 403 || !strings.Contains(body, "own subject only") {
		t.Errorf("list bob's: %d %s", code, body)
	}
	if code, _, _ := f.do("GET", "/v1/tokens/"+sibling.ID, parent, "", ""); code != 200 {
		t.Errorf("show alice's: %d", code)
	}
	if code, _, _ := f.do("GET", "/v1/tokens/"+bob.ID, parent, "", ""); code != 404 {
		t.Errorf("show bob's: %d", code)
	}
	for jti, want := range map[string]int{bob.ID: 404, sibling.ID: 403, "nope": 404} {
		if code, _, body := f.do("POST", "/v1/tokens/"+jti+"/revoke", parent, "", ""); code != want {
			t.Errorf("revoke %s: %d %s, want %d", jti, code, body, want)
		}
	}
	if rec, err := f.tokens.Get(ctx, sibling.ID); err != nil || rec.Status != issuer.StatusActive {
		t.Errorf("sibling after a refused revocation: %+v, %v", rec, err)
	}
	if code, _, body := f.do("POST", "/v1/tokens/"+child.JTI+"/revoke", parent, "", ""); code != 200 {
		t.Errorf("revoke its child: %d %s", code, body)
	}
	if code, _, body := f.do("POST", "/v1/tokens/"+tok.ID+"/revoke", parent, "", ""); code != 200 {
		t.Errorf("revoke itself: %d %s", code, body)
	}
}
