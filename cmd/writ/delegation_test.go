package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/issuer"
)

// TestServeDelegatedIssuing runs writ serve as a real process: a token
// with writ:issue, issued by the CLI, asks the admin API for tokens beyond
// its grants in every way and is refused with a 403 naming the rule, then
// issues a child within them; the CLI (another process) revokes the
// parent, and writ verify, from the database and from the server's feed,
// and writ token list then refuse the child too.
func TestServeDelegatedIssuing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	base, _ := startServer(t, dir)
	const iss = "http://writ.test"
	var parent struct{ Token, JTI string }
	out := runWrit(t, dir, "token", "issue", "--issuer", iss, "--subject", "alice", "--audience", iss, "--audience", "https://api",
		"--scope", "writ:issue", "--scope", "orders/*:write", "--scope", "deploy", "--ttl", "2h", "--output", "json")
	if err := json.Unmarshal([]byte(out), &parent); err != nil {
		t.Fatal(err)
	}
	post := func(body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/v1/tokens", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+parent.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e struct {
			Token, JTI  string
			Description string `json:"error_description"`
		}
		json.NewDecoder(resp.Body).Decode(&e)
		if resp.StatusCode == http.StatusCreated {
			return resp.StatusCode, e.Token + " " + e.JTI
		}
		return resp.StatusCode, e.Description
	}
	late := time.Now().Add(3 * time.Hour).UTC().Format(time.RFC3339)
	for _, tc := range []struct{ body, want string }{
		{`{"subject":"bob","audience":["https://api"]}`, `delegation: subject "bob" is not the issuing token's subject "alice"`},
		{`{"subject":"alice","audience":["https://api"],"scopes":["orders/**:write"]}`, `delegation: scope "orders/**:write" is not implied by the issuing token's scopes`},
		{`{"subject":"alice","audience":["https://api"],"scopes":["orders/1:admin"]}`, `delegation: scope "orders/1:admin" is not implied by the issuing token's scopes`},
		{`{"subject":"alice","audience":["https://api"],"scopes":["writ:issue"]}`, `delegation: scope "writ:issue" is writ's own`},
		{`{"subject":"alice","audience":["https://elsewhere"]}`, `delegation: audience "https://elsewhere" is not one of the issuing token's audiences`},
		{`{"subject":"alice","audience":["https://api"],"ttl":"1w"}`, `is after the issuing token's expiry`},
		{`{"subject":"alice","audience":["https://api"],"expires":"` + late + `"}`, `delegation: expiry ` + late + ` is after the issuing token's expiry`},
	} {
		if code, msg := post(tc.body); code != http.StatusForbidden || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %d %q, want 403 %q", tc.body, code, msg, tc.want)
		}
	}
	code, got := post(`{"subject":"alice","audience":["https://api"],"scopes":["orders/42:read"],"format":"paseto"}`)
	if code != http.StatusCreated {
		t.Fatalf("a child within the parent's grants: %d %s", code, got)
	}
	child, childJTI, _ := strings.Cut(got, " ")

	verify := func(revocations string) (string, error) {
		cmd := writProcess(t, dir, "verify", "--jwks", base+"/.well-known/jwks.json", "--paserk", base+"/.well-known/paserk.json",
			"--revocations", revocations, "--issuer", iss, "--audience", "https://api", child)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		return string(out) + stderr.String(), err
	}
	if out, err := verify("writ.db"); err != nil || !strings.Contains(out, `"scope":"orders/42:read"`) {
		t.Fatalf("writ verify of the child: %v: %s", err, out)
	}
	var recs []issuer.Record
	json.Unmarshal([]byte(runWrit(t, dir, "token", "list", "--subject", "alice", "--output", "json")), &recs)
	if len(recs) != 2 || recs[0].ID != childJTI || recs[0].Parent != parent.JTI {
		t.Fatalf("token list: %+v", recs)
	}

	runWrit(t, dir, "token", "revoke", parent.JTI, "--reason", "e2e")
	for _, src := range []string{"writ.db", base + "/v1/revocations"} {
		deadline := time.Now().Add(10 * time.Second) // the server rereads the database every 100ms
		for {
			out, err := verify(src)
			var exit *exec.ExitError
			if errors.As(err, &exit) && strings.Contains(out, "token revoked") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("writ verify --revocations %s of the child after its parent's revocation: %v: %s", src, err, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	json.Unmarshal([]byte(runWrit(t, dir, "token", "list", "--subject", "alice", "--output", "json")), &recs)
	for _, r := range recs {
		if r.Status != issuer.StatusRevoked {
			t.Errorf("after the parent's revocation: %s is %s", r.ID, r.Status)
		}
	}
}
