package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the CLI in-process and returns its exit status and output.
func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestExitStatus(t *testing.T) {
	db := newCLIDatabase(t)
	_, token, _ := runCLI(t, "", "token", "issue", "--db", db, "--subject", "alice", "--audience", "api")
	token = strings.TrimSpace(token)
	_, jwks, _ := runCLI(t, "", "jwks", "--db", db)
	jwksFile := filepath.Join(t.TempDir(), "jwks.json")
	writeFile(t, jwksFile, jwks)

	verify := func(tok string) []string {
		return []string{"verify", "--jwks", jwksFile, "--issuer", "http://127.0.0.1:8080", "--audience", "api", tok}
	}
	header, payload, sig := split3(t, token)
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"valid", verify(token), 0},
		{"tampered payload", verify(header + "." + payload[:len(payload)-2] + "AA." + sig), 1},
		{"tampered signature", verify(header + "." + payload + "." + flip(sig)), 1},
		{"padded", verify(token + "=="), 1},
		{"two parts", verify(header + "." + payload), 1},
		{"five parts", verify(token + ".a.b"), 1},
		{"garbage", verify("not a token"), 1},
		{"empty", verify(""), 1},
		{"newline inside", verify(header + "\n." + payload + "." + sig), 1},
		{"oversized", verify(strings.Repeat("A", 9000)), 1},
		{"paseto local", verify("v4.local.AAAA"), 1},
		{"alg none", verify("eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + payload + "."), 1},
		{"permission missing", append(verify(token), "--require-permission", "orders/42:read"), 1},
		{"permission malformed", append(verify(token), "--require-permission", "orders/*:read"), 2},
		{"permission without action", append(verify(token), "--require-permission", "orders"), 2},
		{"no args", []string{"verify"}, 2},
		{"unknown flag", []string{"verify", "--frob", token}, 2},
		{"no audience", []string{"verify", "--jwks", jwksFile, "--issuer", "i", token}, 2},
		{"missing jwks file", []string{"verify", "--jwks", "/nonexistent/jwks.json", "--issuer", "i", "--audience", "a", token}, 1},
		{"unknown command", []string{"frobnicate"}, 2},
		{"unknown subcommand", []string{"token", "frobnicate"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", tt.args...)
			if code != tt.want {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.want, stderr)
			}
			if code == 0 {
				return
			}
			if stdout != "" {
				t.Errorf("stdout on failure: %q", stdout)
			}
			if lines := strings.Count(stderr, "\n"); lines < 1 || lines > 2 || !strings.HasPrefix(stderr, "writ: error: ") {
				t.Errorf("stderr is not one error line (and an optional hint): %q", stderr)
			}
			if strings.Contains(stderr, payload) || strings.Contains(stderr, sig) {
				t.Errorf("stderr echoes the token: %q", stderr)
			}
		})
	}
}

func split3(t *testing.T, token string) (string, string, string) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("issued token has %d parts", len(parts))
	}
	return parts[0], parts[1], parts[2]
}

// flip changes the first character of a base64url string to another valid one.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

// newCLIDatabase clears the caller's WRIT_* settings and initialises a
// database, whose path it returns.
func newCLIDatabase(t *testing.T) string {
	t.Helper()
	for _, v := range []string{"WRIT_DB", "WRIT_ISSUER", "WRIT_MASTER_KEY", "WRIT_MASTER_KEY_FILE", "WRIT_OUTPUT"} {
		t.Setenv(v, "")
	}
	db := filepath.Join(t.TempDir(), "writ.db")
	if code, _, stderr := runCLI(t, "", "init", "--db", db); code != 0 {
		t.Fatalf("init: exit %d: %s", code, stderr)
	}
	return db
}
