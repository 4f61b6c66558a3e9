package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestRevocationTimesBounded: a --grace ending after the old token's
// expiry and a --before in the future are usage errors (exit 2) that
// issue and revoke nothing.
func TestRevocationTimesBounded(t *testing.T) {
	db := newCLIDatabase(t)
	code, out, stderr := runCLI(t, "", "token", "issue", "--db", db, "--subject", "alice", "--audience", "api", "--ttl", "1h", "--output", "json")
	var issued struct{ JTI string }
	if err := json.Unmarshal([]byte(out), &issued); code != 0 || err != nil || issued.JTI == "" {
		t.Fatalf("issue: exit %d, %v: %s", code, err, stderr)
	}
	jti := issued.JTI
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"grace past the expiry", []string{"token", "regenerate", "--db", db, "--grace", "2h", "--", jti}, "grace period ends after the token expires"},
		{"grace past 2106", []string{"token", "regenerate", "--db", db, "--grace", "700000h", "--", jti}, "grace period ends after the token expires"},
		{"cut-off in the future", []string{"token", "revoke", "--db", db, "--subject", "alice", "--before", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, "is in the future"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", tt.args...)
			if code != 2 || stdout != "" || !strings.HasPrefix(stderr, "writ: error: ") || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 naming %q", code, stdout, stderr, tt.want)
			}
		})
	}
	_, list, _ := runCLI(t, "", "token", "list", "--db", db, "--output", "json")
	if n := strings.Count(list, `"jti"`); n != 1 || !strings.Contains(list, `"status": "active"`) {
		t.Errorf("tokens after refused revocations: %s; want the one, active", list)
	}
}
