package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/revocation"
)

// TestRevocationTimesBounded: a grace ending after the token's expiry and a
// subject cut-off in the future are refused with 400, and nothing is
// issued or revoked.
func TestRevocationTimesBounded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tok, err := f.tokens.Issue(ctx, issuer.Request{Subject: "alice", Audience: []string{"https://api"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	f.seen = append(f.seen, tok.Token)
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	tests := []struct {
		name, path, body, want string
	}{
		{"revoke, grace past the expiry", "/v1/tokens/" + tok.ID + "/revoke", `{"grace":"2h"}`, "grace period ends after the token expires"},
		{"revoke, grace past 2106", "/v1/tokens/" + tok.ID + "/revoke", `{"grace":"700000h"}`, "grace period ends after the token expires"},
		{"regenerate, grace past the expiry", "/v1/tokens/" + tok.ID + "/regenerate", `{"grace":"2h"}`, "grace period ends after the token expires"},
		{"regenerate, negative grace", "/v1/tokens/" + tok.ID + "/regenerate", `{"grace":"-1h"}`, "negative grace period"},
		{"subject, cut-off in the future", "/v1/subjects/alice/revoke", `{"before":"` + future + `"}`, "is in the future"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, body := f.do("POST", tt.path, f.admin, "application/json", tt.body)
			if code != 400 || !strings.Contains(body, `"error": "invalid_request"`) || !strings.Contains(body, tt.want) {
				t.Errorf("%d %s, want 400 invalid_request naming %q", code, body, tt.want)
			}
		})
	}
	if entries, err := f.list.Entries(ctx, revocation.Filter{}); err != nil || len(entries) != 0 {
		t.Errorf("entries after refused revocations: %v, %v", entries, err)
	}
	if recs, err := f.tokens.List(ctx, issuer.Filter{Subject: "alice"}); err != nil || len(recs) != 1 {
		t.Errorf("tokens of alice after refused regenerations: %d, %v; want 1", len(recs), err)
	}
}
