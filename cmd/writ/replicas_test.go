package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
)

// postgresDir starts a throwaway PostgreSQL database and a directory with
// the master key file that its replicas share, and returns the directory
// and the global flags that point writ at both.
func postgresDir(t *testing.T) (dir string, global []string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts PostgreSQL and processes")
	}
	url := pgtest.Start(t)
	dir = t.TempDir()
	return dir, []string{"--db", url, "--master-key-file", filepath.Join(dir, "master.key")}
}

// TestPostgresCLI: every command works on a postgres:// URL as on a file,
// and the master key must be given: there is no file to keep it beside.
func TestPostgresCLI(t *testing.T) {
	dir, global := postgresDir(t)
	url := global[1]

	cmd := writProcess(t, dir, "init", "--db", url)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "needs its master key given") || !strings.Contains(string(out), "WRIT_MASTER_KEY") {
		t.Fatalf("init on a URL without a master key: %v\n%s", err, out)
	}
	cmd = writProcess(t, dir, append([]string{"token", "issue", "--subject", "a", "--audience", "b"}, global...)...)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "writ init") {
		t.Fatalf("issue before init: %v\n%s", err, out)
	}

	runWrit(t, dir, append([]string{"init"}, global...)...)
	if fi, err := os.Stat(filepath.Join(dir, "master.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master key file: %v", err)
	}
	issue := append([]string{"token", "issue", "--issuer", "http://writ.test", "--subject", "svc", "--audience", "https://api", "--output", "json"}, global...)
	var tok struct{ Token, JTI string }
	if err := json.Unmarshal([]byte(runWrit(t, dir, issue...)), &tok); err != nil {
		t.Fatal(err)
	}
	jwks := filepath.Join(dir, "jwks.json")
	writeFile(t, jwks, runWrit(t, dir, append([]string{"jwks"}, global...)...))
	verify := []string{"verify", "--jwks", jwks, "--issuer", "http://writ.test", "--audience", "https://api", "--revocations", url, tok.Token}
	runWrit(t, dir, verify...)
	runWrit(t, dir, append([]string{"token", "revoke", tok.JTI, "--reason", "test"}, global...)...)
	cmd = writProcess(t, dir, verify...)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "token revoked") {
		t.Fatalf("verify a revoked token against the PostgreSQL list: %v\n%s", err, out)
	}
	if list := runWrit(t, dir, append([]string{"token", "list"}, global...)...); !strings.Contains(list, tok.JTI) || !strings.Contains(list, "revoked") {
		t.Errorf("token list:\n%s", list)
	}
	runWrit(t, dir, append([]string{"keys", "rotate", "--force"}, global...)...)
	if audit := runWrit(t, dir, append([]string{"audit"}, global...)...); !strings.Contains(audit, "rotate") {
		t.Errorf("audit:\n%s", audit)
	}
	cmd = writProcess(t, dir, append([]string{"backup", filepath.Join(dir, "copy.db")}, global...)...)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "pg_dump") {
		t.Errorf("backup of a PostgreSQL database: %v\n%s", err, out)
	}
}

// TestPostgresReplicas: two writ serve processes share one PostgreSQL
// database: a token issued through one verifies through the other, and
// one revoked through one is refused by the other.
func TestPostgresReplicas(t *testing.T) {
	dir, global := postgresDir(t)
	runWrit(t, dir, append([]string{"init"}, global...)...)
	const iss = "http://writ.test"
	serve := append([]string{"serve", "--addr", "127.0.0.1:0", "--refresh", "100ms", "--issuer", iss}, global...)
	a := waitListening(t, writProcess(t, dir, serve...))
	b := waitListening(t, writProcess(t, dir, serve...))
	admin := runWrit(t, dir, append([]string{"token", "issue", "--issuer", iss, "--subject", "admin", "--audience", iss, "--scope", "writ:admin"}, global...)...)

	var issued struct{ Token, JTI string }
	if code := call(t, "POST", a+"/v1/tokens", admin, `{"subject":"svc","audience":["https://api"],"ttl":"1h"}`, &issued); code != 201 {
		t.Fatalf("issue through replica A: %d", code)
	}
	whoami := func(base string) int {
		return call(t, "GET", base+"/v1/whoami?audience=https://api", issued.Token, "", nil)
	}
	if code := whoami(b); code != 200 {
		t.Fatalf("replica B on a token of replica A: %d", code)
	}
	if code := call(t, "POST", a+"/v1/tokens/"+issued.JTI+"/revoke", admin, `{"reason":"test"}`, nil); code != 200 {
		t.Fatalf("revoke through replica A: %d", code)
	}
	deadline := time.Now().Add(15 * time.Second)
	for whoami(b) != 401 {
		if time.Now().After(deadline) {
			t.Fatal("replica B still accepts a token revoked through replica A")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// call makes an HTTP request with a bearer token and a JSON body, decodes
// a JSON answer into out when it is not nil, and returns the status.
func call(t *testing.T, method, url, token, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
	}
	return resp.StatusCode
}
