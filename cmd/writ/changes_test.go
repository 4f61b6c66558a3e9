package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestReplicasHearChanges: writ serve replicas on PostgreSQL that poll
// the database only hourly still enforce at once what the CLI, another
// process, changes, since it announces the changes: a revoked token is
// refused by both, and a compromised key leaves both key sets.
func TestReplicasHearChanges(t *testing.T) {
	dir, global := postgresDir(t)
	runWrit(t, dir, append([]string{"init"}, global...)...)
	const iss = "http://writ.test"
	serve := append([]string{"serve", "--addr", "127.0.0.1:0", "--refresh", "1h", "--issuer", iss}, global...)
	replicas := []string{waitListening(t, writProcess(t, dir, serve...)), waitListening(t, writProcess(t, dir, serve...))}

	var tok struct{ Token, JTI, KID string }
	issue := append([]string{"token", "issue", "--issuer", iss, "--subject", "svc", "--audience", "https://api", "--output", "json"}, global...)
	if err := json.Unmarshal([]byte(runWrit(t, dir, issue...)), &tok); err != nil {
		t.Fatal(err)
	}
	whoami := func(base string) int {
		return call(t, "GET", base+"/v1/whoami?audience=https://api", tok.Token, "", nil)
	}
	publishes := func(base string) bool {
		resp, err := http.Get(base + "/.well-known/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("jwks: %d %v", resp.StatusCode, err)
		}
		return strings.Contains(string(body), `"`+tok.KID+`"`)
	}
	for _, r := range replicas {
		if code := whoami(r); code != 200 || !publishes(r) {
			t.Fatalf("replica %s before the changes: whoami %d, publishes the key: %v", r, code, publishes(r))
		}
	}
	until := func(what string, done func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !done(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 30s", what)
			}
		}
	}

	runWrit(t, dir, append([]string{"token", "revoke", tok.JTI, "--reason", "test"}, global...)...)
	for _, r := range replicas {
		until("replica "+r+" refuses the token the CLI revoked", func() bool { return whoami(r) == 401 })
	}
	runWrit(t, dir, append([]string{"keys", "compromise", tok.KID, "--reason", "test"}, global...)...)
	for _, r := range replicas {
		until("replica "+r+" drops the key the CLI compromised", func() bool { return !publishes(r) })
	}
}
