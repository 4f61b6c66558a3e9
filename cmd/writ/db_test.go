package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/writ-dev/writ"
)

// TestDBCopyPostgres: writ db copy moves an SQLite database to PostgreSQL,
// where the same master key file opens it, and back; the counts go to
// stdout as JSON; an empty destination is required.
func TestDBCopyPostgres(t *testing.T) {
	dir, global := postgresDir(t)
	url := global[1]
	runWrit(t, dir, "init")
	tok := runWrit(t, dir, "token", "issue", "--subject", "svc", "--audience", "https://api", "--output", "json")
	var issued struct{ JTI string }
	if err := json.Unmarshal([]byte(tok), &issued); err != nil {
		t.Fatal(err)
	}
	runWrit(t, dir, "token", "revoke", issued.JTI)

	// A password in a URL is never printed, and draws a warning.
	withPassword := strings.Replace(url, "writ@", "writ:hunter2@", 1)
	cmd := writProcess(t, dir, "db", "copy", "writ.db", withPassword, "--output", "json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("db copy: %v\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String()+string(out), "hunter2") || !strings.Contains(stderr.String(), "warning: the URL "+writ.RedactURL(withPassword)+" holds a password") {
		t.Errorf("db copy with a password in the URL printed:\n%s%s", stderr.String(), out)
	}
	if !strings.Contains(stderr.String(), "writ: copied writ.db to "+writ.RedactURL(withPassword)+": 4 keys, 1 tokens, 1 revocations (1 packed chunks), ") {
		t.Errorf("db copy's counts on stderr:\n%s", stderr.String())
	}
	var counts writ.CopyCounts
	if err := json.Unmarshal(out, &counts); err != nil || counts.Keys != 4 || counts.Tokens != 1 || counts.Revocations != 1 || counts.Audit < 6 {
		t.Errorf("db copy's counts on stdout: %s, %v", out, err)
	}

	key := []string{"--master-key-file", filepath.Join(dir, "writ.db.key")}
	list := runWrit(t, dir, append([]string{"token", "list", "--db", url}, key...)...)
	if !strings.Contains(list, issued.JTI) || !strings.Contains(list, "revoked") {
		t.Errorf("token list of the copy:\n%s", list)
	}
	runWrit(t, dir, append([]string{"keys", "list", "--db", url}, key...)...) // fails on an untrusted key
	runWrit(t, dir, append([]string{"token", "issue", "--db", url, "--subject", "new", "--audience", "https://api"}, key...)...)

	cmd = writProcess(t, dir, "db", "copy", "writ.db", url)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "not empty") || !strings.Contains(string(out), "writ: hint: copy into a new database") {
		t.Errorf("db copy into a database that is not empty: %v\n%s", err, out)
	}
	runWrit(t, dir, "db", "copy", url, "back.db")
	list = runWrit(t, dir, append([]string{"token", "list", "--db", "back.db"}, key...)...)
	if strings.Count(list, "revoked") != 1 || !strings.Contains(list, "new") {
		t.Errorf("token list of the copy back:\n%s", list)
	}
}

// TestURLHasPassword: a password in a URL's query, where PostgreSQL's
// clients read one too, draws the warning and keeps the URL out of writ
// serve's hint, as one in its user information does.
func TestURLHasPassword(t *testing.T) {
	for url, want := range map[string]bool{
		"postgres://writ:hunter2@db.example/writ":                  true,
		"postgres://writ@db.example/writ?password=hunter2":         true,
		"postgres://db.example/writ?sslmode=require&password=x":    true,
		"postgres://db.example/writ?sslpassword=hunter2":           true,
		"postgres://writ@db.example/writ":                          false,
		"postgres://db.example/writ?sslmode=require&user=writ":     false,
		"postgres://db.example/password?application_name=password": false,
	} {
		if got := urlHasPassword(url); got != want {
			t.Errorf("urlHasPassword(%q) = %v, want %v", url, got, want)
		}
	}
}
