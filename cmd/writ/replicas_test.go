package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
	// A password in a --db flag is visible to others: warned about, and
	// never printed, here in a failure to connect.
	secret := strings.Replace(url, "writ@", "writ:s3cret-pw@", 1)
	secret = strings.Replace(secret, "/writ_", "/missing_", 1)
	cmd = writProcess(t, dir, "token", "list", "--db", secret, "--master-key-file", global[3])
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "process list") || strings.Contains(string(out), "s3cret-pw") {
		t.Errorf("a password in --db: %v\n%s", err, out)
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

// TestReplicaKilled: two writ serve replicas share a database (PostgreSQL,
// or one SQLite file on one machine) under issuance and revocation load
// through both; one is killed with SIGKILL. Every issuance and revocation
// that either acknowledged is in the database afterwards, and the survivor
// answers every request, during the kill and after it, without an error.
func TestReplicaKilled(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			var dir string
			var global []string
			if engine == "postgres" {
				dir, global = postgresDir(t)
			} else {
				if testing.Short() {
					t.Skip("starts processes")
				}
				dir = t.TempDir()
				global = []string{"--db", filepath.Join(dir, "writ.db"), "--master-key-file", filepath.Join(dir, "master.key")}
			}
			testReplicaKilled(t, dir, global)
		})
	}
}

func testReplicaKilled(t *testing.T, dir string, global []string) {
	runWrit(t, dir, append([]string{"init"}, global...)...)
	const iss = "http://writ.test"
	serve := append([]string{"serve", "--addr", "127.0.0.1:0", "--refresh", "100ms", "--issuer", iss}, global...)
	victim := writProcess(t, dir, serve...)
	replicas := []string{waitListening(t, victim), waitListening(t, writProcess(t, dir, serve...))}
	admin := runWrit(t, dir, append([]string{"token", "issue", "--issuer", iss, "--subject", "admin", "--audience", iss, "--scope", "writ:admin"}, global...)...)
	client := &http.Client{Timeout: 30 * time.Second}
	do := func(url, body string, out any) (int, error) {
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if out != nil && resp.StatusCode < 300 {
			err = json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode, err
	}

	var (
		mu         sync.Mutex
		issued     []string // acknowledged by either replica
		revokedIDs []string
		survivor   []error // errors of the survivor, which must have none
		killed     atomic.Bool
		stop       atomic.Bool
	)
	var wg sync.WaitGroup
	const workers = 4 // per replica
	for r, base := range replicas {
		for range workers {
			wg.Go(func() {
				for i := 0; !stop.Load(); i++ {
					var tok struct{ JTI string }
					code, err := do(base+"/v1/tokens", `{"subject":"load","audience":["https://api"],"ttl":"1h"}`, &tok)
					if err == nil && code == 201 {
						mu.Lock()
						issued = append(issued, tok.JTI)
						mu.Unlock()
						if i%2 == 0 {
							code, err = do(base+"/v1/tokens/"+tok.JTI+"/revoke", `{"reason":"load"}`, nil)
							if err == nil && code == 200 {
								mu.Lock()
								revokedIDs = append(revokedIDs, tok.JTI)
								mu.Unlock()
							}
						}
					}
					if err == nil && code != 201 && code != 200 {
						err = fmt.Errorf("status %d", code)
					}
					if err != nil {
						if r == 0 && killed.Load() {
							return // the victim's requests in flight, and after
						}
						mu.Lock()
						survivor = append(survivor, fmt.Errorf("replica %d: %w", r, err))
						mu.Unlock()
						return
					}
				}
			})
		}
	}
	time.Sleep(1500 * time.Millisecond)
	killed.Store(true)
	if err := victim.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	for _, err := range survivor {
		t.Error(err)
	}

	// Everything acknowledged is there, read by a process of its own.
	list := runWrit(t, dir, append([]string{"token", "list", "--output", "json", "--limit", "1000000"}, global...)...)
	var records []struct {
		JTI    string `json:"jti"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(list), &records); err != nil {
		t.Fatalf("token list: %v", err)
	}
	status := map[string]string{}
	for _, r := range records {
		status[r.JTI] = r.Status
	}
	for _, jti := range issued {
		if _, ok := status[jti]; !ok {
			t.Errorf("acknowledged token %s is not in the database", jti)
		}
	}
	for _, jti := range revokedIDs {
		if status[jti] != "revoked" {
			t.Errorf("acknowledged revocation of %s: status %q", jti, status[jti])
		}
	}
	t.Logf("%d issuances and %d revocations acknowledged, all in the database", len(issued), len(revokedIDs))
	if len(issued) == 0 || len(revokedIDs) == 0 {
		t.Fatal("no load ran")
	}
}

// TestReplicasRotate: two writ serve replicas apply a short rotation
// policy to one PostgreSQL database while each issues tokens that the
// other verifies: the scheduled rotation happens once, on one replica, and
// no token is refused by either, before, during or after it.
func TestReplicasRotate(t *testing.T) {
	t.Parallel() // it mostly waits for the next key to be published long enough
	dir, global := postgresDir(t)
	runWrit(t, dir, append([]string{"init"}, global...)...)
	const iss = "http://writ.test"
	// A next key signs once published for max-age + 30 s of leeway: the
	// rotation comes about 31 s after init.
	serve := append([]string{"serve", "--addr", "127.0.0.1:0", "--refresh", "100ms", "--issuer", iss,
		"--max-age", "1s", "--publish-floor", "0", "--rotation-period", "2s"}, global...)
	replicas := []string{waitListening(t, writProcess(t, dir, serve...)), waitListening(t, writProcess(t, dir, serve...))}
	admin := runWrit(t, dir, append([]string{"token", "issue", "--issuer", iss, "--subject", "admin", "--audience", iss, "--scope", "writ:admin"}, global...)...)
	rotations := func() int {
		var events []struct{ Action string }
		if err := json.Unmarshal([]byte(runWrit(t, dir, append([]string{"audit", "--output", "json"}, global...)...)), &events); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range events {
			if e.Action == "key.rotate" {
				n++
			}
		}
		return n
	}

	deadline := time.Now().Add(90 * time.Second)
	var verified int
	for n := 0; ; n++ {
		from, to := replicas[n%2], replicas[(n+1)%2]
		var tok struct{ Token string }
		if code := call(t, "POST", from+"/v1/tokens", admin, `{"subject":"svc","audience":["https://api"],"ttl":"1h"}`, &tok); code != 201 {
			t.Fatalf("issue through %s: %d", from, code)
		}
		if code := call(t, "GET", to+"/v1/whoami?audience=https://api", tok.Token, "", nil); code != 200 {
			t.Fatalf("a token issued by %s refused by %s: %d (after %d verified)", from, to, code, verified)
		}
		verified++
		if n%50 == 0 && rotations() >= 2 { // both formats, once
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no scheduled rotation within 90 s (%d rotations)", rotations())
		}
	}
	// Some more tokens under the new keys, then count again: a second
	// rotation of a format would need a next key published 31 s.
	for n := range 50 {
		from, to := replicas[n%2], replicas[(n+1)%2]
		var tok struct{ Token string }
		if code := call(t, "POST", from+"/v1/tokens", admin, `{"subject":"svc","audience":["https://api"],"ttl":"1h"}`, &tok); code != 201 {
			t.Fatalf("issue through %s: %d", from, code)
		}
		if code := call(t, "GET", to+"/v1/whoami?audience=https://api", tok.Token, "", nil); code != 200 {
			t.Fatalf("after the rotation, a token issued by %s refused by %s: %d", from, to, code)
		}
	}
	if n := rotations(); n != 2 {
		t.Errorf("%d rotation events, want 2 (one per format, by one replica)", n)
	}
	t.Logf("%d tokens verified across replicas around the rotation", verified+50)
}
