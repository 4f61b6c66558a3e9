package bearer_test

import (
	"net/http/httptest"
	"testing"

	"github.com/writ-dev/writ/verifier/bearer"
)

func TestToken(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers []string
		token   string
		err     bool
	}{
		{"none", nil, "", false},
		{"bearer", []string{"Bearer abc.def"}, "abc.def", false},
		{"scheme in another case", []string{"bEARER abc"}, "abc", false},
		{"spaces before the token", []string{"Bearer   abc"}, "abc", false},
		{"another scheme", []string{"Basic YTpi"}, "", false},
		{"no space", []string{"Bearerabc"}, "", false},
		{"empty token", []string{"Bearer "}, "", true},
		{"two headers", []string{"Bearer abc", "Bearer abc"}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/?access_token=query", nil)
			for _, h := range tc.headers {
				r.Header.Add("Authorization", h)
			}
			token, err := bearer.Token(r)
			if token != tc.token || (err != nil) != tc.err {
				t.Errorf("Token = %q, %v; want %q, error %v", token, err, tc.token, tc.err)
			}
		})
	}
}

func TestChallenge(t *testing.T) {
	for _, tc := range []struct {
		c    bearer.Challenge
		want string
	}{
		{bearer.Challenge{}, "Bearer"},
		{bearer.Challenge{Realm: "writ"}, `Bearer realm="writ"`},
		{bearer.Challenge{Realm: `a"b`, Error: "invalid_token", Description: "token expired"},
			`Bearer realm="ab", error="invalid_token", error_description="token expired"`},
		{bearer.Challenge{Error: "insufficient_scope", Scope: "a b"}, `Bearer error="insufficient_scope", scope="a b"`},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.c, got, tc.want)
		}
	}
}

// TestChallengeQuoting: whatever a caller puts in a Challenge, each value
// stays one quoted string (RFC 6750 §3 excludes '"' and '\' from them), so
// that no value ends its string early and forges another parameter.
func TestChallengeQuoting(t *testing.T) {
	for _, tc := range []struct {
		c    bearer.Challenge
		want string
	}{
		{bearer.Challenge{Realm: `wr"it`, Error: "invalid_token", Description: `bad typ "x", error="other`},
			`Bearer realm="writ", error="invalid_token", error_description="bad typ x, error=other"`},
		{bearer.Challenge{Realm: "writ", Error: "insufficient_scope", Scope: `read" error_uri="https://evil`},
			`Bearer realm="writ", error="insufficient_scope", scope="read error_uri=https://evil"`},
		{bearer.Challenge{Realm: `a\b`, Description: "ends in a backslash \\\r\n\u00e9"},
			`Bearer realm="ab", error_description="ends in a backslash "`},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("%+v:\n got %s\nwant %s", tc.c, got, tc.want)
		}
	}
}
