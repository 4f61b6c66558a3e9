package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store/sqlite/sqlitetest"
)

// checkOneErrorLine checks that stderr is one plain error line and an
// optional hint.
func checkOneErrorLine(t *testing.T, stderr string) {
	t.Helper()
	if lines := strings.Count(stderr, "\n"); lines < 1 || lines > 2 || !strings.HasPrefix(stderr, "writ: error: ") {
		t.Errorf("stderr is not one error line (and an optional hint): %q", stderr)
	}
	if strings.ContainsFunc(strings.TrimSuffix(stderr, "\n"), func(r rune) bool {
		return r != '\n' && (r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == '\u2028' || r == '\u2029' || r == '\u202e' || r == '\u200b')
	}) {
		t.Errorf("stderr carries raw control or invisible characters: %q", stderr)
	}
}

// TestHostileTextRefused: free text that could hide, reorder or forge what
// a reader sees is a usage error, exit 2, and nothing is recorded.
func TestHostileTextRefused(t *testing.T) {
	db := newCLIDatabase(t)
	code, out, stderr := runCLI(t, "", "token", "issue", "--db", db, "--subject", "alice", "--audience", "api", "--output", "json")
	if code != 0 {
		t.Fatalf("issue: %d %s", code, stderr)
	}
	jti := out[strings.Index(out, `"jti": "`)+8:]
	jti = jti[:strings.IndexByte(jti, '"')]
	many := []string{"token", "issue", "--db", db, "--subject", "alice", "--audience", "api"}
	for i := range 64 {
		many = append(many, "--scope", strings.Repeat(string(rune('a'+i%26)), 250)+string(rune('a'+i/26)))
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"subject with a right-to-left override", []string{"token", "issue", "--db", db, "--subject", "alice\u202enimda", "--audience", "api"}},
		{"subject with ESC", []string{"token", "issue", "--db", db, "--subject", "\x1b[2Jalice", "--audience", "api"}},
		{"name with a newline", []string{"token", "issue", "--db", db, "--subject", "alice", "--audience", "api", "--name", "ci\nwrit: error: forged"}},
		{"name with a zero width space", []string{"token", "issue", "--db", db, "--subject", "alice", "--audience", "api", "--name", "c\u200bi"}},
		{"token too large", many},
		{"reason with a line separator", []string{"token", "revoke", "--db", db, jti, "--reason", "left\u2028x"}},
		{"reason too long", []string{"token", "revoke", "--db", db, "--subject", "alice", "--reason", strings.Repeat("r", 513)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", tc.args...)
			if code != 2 || stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 2 and nothing on stdout", code, stdout, stderr)
			}
			checkOneErrorLine(t, stderr)
		})
	}
	if code, out, _ := runCLI(t, "", "audit", "--db", db, "--output", "json"); code != 0 || strings.Count(out, `"action": "token.issue"`) != 1 || strings.Contains(out, "revoke") {
		t.Errorf("audit after refusals: exit %d, %s", code, out)
	}
}

// TestOutputEscapesStoredText: text already in the database (an older writ,
// a hand edit) prints escaped in every table: no forged line, no terminal
// escape, no reordering.
func TestOutputEscapesStoredText(t *testing.T) {
	db := newCLIDatabase(t)
	code, _, stderr := runCLI(t, "", "token", "issue", "--db", db, "--subject", "mallory", "--audience", "api")
	if code != 0 {
		t.Fatalf("issue: %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "", "token", "revoke", "--db", db, "--subject", "mallory", "--reason", "left"); code != 0 {
		t.Fatalf("revoke: %d %s", code, stderr)
	}
	const hostile = "mallory\x1b[2J\x1b[1A\r\nAT  cli:root  token.issue  admin\u202e\u2028\xff"
	const escaped = `mallory\x1b[2J\x1b[1A\r\nAT  cli:root  token.issue  admin\u202e\u2028\xff`
	_, events, _ := runCLI(t, "", "audit", "--db", db, "--output", "json")
	nEvents := strings.Count(events, `"action"`)
	sqlDB := sqlitetest.Open(t, db)
	for table, columns := range map[string][]string{
		"tokens":      {"subject", "name", "issued_by"},
		"audit":       {"actor", "subject", "detail"},
		"revocations": {"value", "actor", "reason"},
	} {
		set := map[string]any{}
		for _, c := range columns {
			set[c] = hostile
		}
		sqlitetest.Set(t, sqlDB, table, set, nil)
	}
	sqlDB.Close()
	for _, args := range [][]string{
		{"token", "list", "--db", db},
		{"audit", "--db", db, "--since", time.Hour.String()},
		{"revocations", "list", "--db", db},
	} {
		t.Run(args[0], func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
			if !strings.Contains(stdout, escaped) {
				t.Errorf("output lacks the escaped value %q:\n%s", escaped, stdout)
			}
			if strings.ContainsAny(stdout, "\x1b\r\u202e\u2028") || strings.Contains(stdout, "\xff") {
				t.Errorf("output carries raw control characters: %q", stdout)
			}
			// The header and one line per record: nothing forged.
			want := 2
			if args[0] == "audit" {
				want = 1 + nEvents
			}
			if len(lines) != want {
				t.Errorf("%d lines, want %d:\n%s", len(lines), want, stdout)
			}
		})
		t.Run(args[0]+" --output json", func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", append(args, "--output", "json")...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if strings.ContainsAny(stdout, "\x1b\r\u202e\u2028") || !strings.Contains(stdout, `\u202e\u2028`) {
				t.Errorf("JSON output carries raw control or invisible characters: %q", stdout)
			}
			if !json.Valid([]byte(stdout)) {
				t.Errorf("JSON output is not JSON: %q", stdout)
			}
		})
	}
}

// TestDidYouMean: a mistyped command or flag gets the nearest one as a
// hint; an argument that reads as a value, the hint about --.
func TestDidYouMean(t *testing.T) {
	for _, tc := range []struct {
		args []string
		hint string
	}{
		{[]string{"tokn", "list"}, `did you mean "writ token"?`},
		{[]string{"token", "lst"}, `did you mean "writ token list"?`},
		{[]string{"revocation", "list"}, `did you mean "writ revocations"?`},
		{[]string{"token", "issue", "--subjct", "x"}, "did you mean --subject?"},
		{[]string{"token", "issue", "-subject", "x"}, "did you mean --subject?"},
		{[]string{"token", "list", "--stauts", "revoked"}, "did you mean --status?"},
		{[]string{"verify", "--jwk", "x"}, "did you mean --jwks?"},
		{[]string{"token", "list", "--ouptut", "json"}, "did you mean --output?"},
		{[]string{"token", "revoke", "-abc"}, "goes after --"},
		{[]string{"token", "revoke", "-n2Rk-4QviJ51ZoLINqQ5Q"}, "goes after --"},
		{[]string{"keys", "compromise", "--Xy_9AbcdEfgh"}, "goes after --"},
		{[]string{"token", "issue", "--frobnicate"}, "run 'writ token issue --help' for its flags"},
		{[]string{"frobnicate"}, "run 'writ --help' for its commands"},
		{[]string{"help", "tokn"}, `did you mean "writ token"?`},
		{[]string{"help", "token", "isue"}, `did you mean "writ token issue"?`},
		{[]string{"completion", "bsh"}, `did you mean "writ completion bash"?`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := runCLI(t, "", tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			checkOneErrorLine(t, stderr)
			if _, hint, _ := strings.Cut(stderr, "\nwrit: hint: "); !strings.Contains(hint, tc.hint) {
				t.Errorf("stderr %q lacks the hint %q", stderr, tc.hint)
			}
		})
	}
}
