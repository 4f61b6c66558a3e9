package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/remote"
	"github.com/writ-dev/writ/verifier/revoked"
)

// writProcess runs this test binary as writ, a real separate process.
func writProcess(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WRIT_TEST_AS_WRIT=1", "WRIT_DB=", "WRIT_ISSUER=", "WRIT_MASTER_KEY=", "WRIT_MASTER_KEY_FILE=", "WRIT_OUTPUT=", "WRIT_FEED_TOKEN=")
	return cmd
}

// runWrit runs writ as a process and returns its stdout, failing the test
// on a non-zero exit.
func runWrit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := writProcess(t, dir, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("writ %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// startServer starts writ serve on a free loopback port in dir and returns
// its base URL once it listens.
func startServer(t *testing.T, dir string) (string, *exec.Cmd) {
	t.Helper()
	cmd := writProcess(t, dir, "serve", "--addr", "127.0.0.1:0", "--refresh", "100ms", "--issuer", "http://writ.test", "--console-idle", "5m")
	return waitListening(t, cmd), cmd
}

// waitListening starts a writ serve process and returns the base URL it
// listens on, read from its "serving" line. The process is killed at the
// end of the test if still running.
func waitListening(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	listening := regexp.MustCompile(`^writ: serving (https?)://\S+ on (127\.0\.0\.1:\d+)`)
	sc := bufio.NewScanner(stderr)
	found := make(chan string, 1)
	go func() {
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1] + "://" + m[2]
			}
		}
	}()
	select {
	case base := <-found:
		return base
	case <-time.After(30 * time.Second):
		t.Fatal("writ serve did not start listening")
	}
	return ""
}

// TestServeEndToEnd runs writ serve as a real process on loopback: a fresh
// directory is initialised on first start, an admin token from the CLI
// issues a token through the API, a remote verifier checks it from the
// served key set and revocation feed, the CLI (another process) revokes it,
// the verifier rejects it within the feed's refresh, and SIGTERM stops the
// server with exit status 0.
func TestServeEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	base, server := startServer(t, dir)
	for _, f := range []string{"writ.db", "writ.db.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("serve did not initialise %s: %v", f, err)
		}
	}
	const iss = "http://writ.test"
	admin := runWrit(t, dir, "token", "issue", "--issuer", iss, "--subject", "admin", "--audience", iss, "--scope", "writ:admin")

	req, _ := http.NewRequest("POST", base+"/v1/tokens", strings.NewReader(`{"subject":"svc","audience":["https://api"],"scopes":["read"],"ttl":"1h"}`))
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var issued struct{ Token, JTI string }
	json.NewDecoder(resp.Body).Decode(&issued)
	resp.Body.Close()
	if resp.StatusCode != 201 || issued.Token == "" {
		t.Fatalf("issue through the API: %s", resp.Status)
	}
	// The audit log through the API: the issue, by the admin's token.
	req, _ = http.NewRequest("GET", base+"/v1/audit?jti="+issued.JTI, nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	var events struct{ Events []audit.Event }
	json.NewDecoder(resp.Body).Decode(&events)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(events.Events) != 1 || events.Events[0].Action != audit.Issue || !strings.HasPrefix(events.Events[0].Actor, "api:admin ") {
		t.Fatalf("GET /v1/audit: %s %+v", resp.Status, events)
	}

	ctx := context.Background()
	jwks, err := remote.NewKeySet(ctx, remote.KeySetConfig{URL: base + "/.well-known/jwks.json"})
	if err != nil {
		t.Fatal(err)
	}
	defer jwks.Close()
	feed, err := remote.NewFeed(remote.FeedConfig{URL: base + "/v1/revocations", Issuer: iss, Keys: jwks})
	if err != nil {
		t.Fatal(err)
	}
	const refresh = 200 * time.Millisecond
	snap, err := revoked.NewSnapshot(ctx, revoked.SnapshotConfig{Feed: feed, Refresh: refresh})
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	v, err := verifier.New(verifier.Config{Issuer: iss, Audience: "https://api", Algorithms: []verifier.Algorithm{verifier.EdDSA}, Keys: jwks, Revocation: snap})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := v.Verify(ctx, issued.Token); err != nil || c.Subject != "svc" {
		t.Fatalf("remote verification: %v", err)
	}

	revokedAt := time.Now()
	runWrit(t, dir, "token", "revoke", issued.JTI, "--reason", "e2e")
	for {
		_, err := v.Verify(ctx, issued.Token)
		if errors.Is(err, verifier.ErrRevoked) {
			break
		}
		// The server rereads the database every 100ms and the snapshot the
		// feed every 200ms; allow generous slack for a loaded machine.
		if time.Since(revokedAt) > 10*time.Second {
			t.Fatalf("revocation by the CLI not seen through the feed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("revocation seen by the remote verifier %v after the CLI started", time.Since(revokedAt).Round(time.Millisecond))

	// writ verify against the running server, by URL.
	cmd := writProcess(t, dir, "verify", "--jwks", base+"/.well-known/jwks.json", "--revocations", base+"/v1/revocations",
		"--issuer", iss, "--audience", "https://api", issued.Token)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), "token revoked") {
		t.Errorf("writ verify by URL: %v, %q", err, stderr.String())
	}

	if err := server.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- server.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("writ serve after SIGTERM: %v, want exit status 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("writ serve did not stop on SIGTERM")
	}
}

// TestServePrivateFeed: with --private-feed, writ verify reads the feed only
// with a feed token in WRIT_FEED_TOKEN.
func TestServePrivateFeed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	const iss = "http://writ.test"
	base := waitListening(t, writProcess(t, dir, "serve", "--addr", "127.0.0.1:0", "--issuer", iss, "--private-feed"))
	token := runWrit(t, dir, "token", "issue", "--issuer", iss, "--subject", "svc", "--audience", "https://api")
	feedToken := runWrit(t, dir, "token", "issue", "--issuer", iss, "--subject", "gateway", "--audience", iss, "--scope", "writ:revocations")

	verify := func(env ...string) (string, error) {
		cmd := writProcess(t, dir, "verify", "--jwks", base+"/.well-known/jwks.json", "--revocations", base+"/v1/revocations",
			"--issuer", iss, "--audience", "https://api", token)
		cmd.Env = append(cmd.Env, env...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		return stderr.String(), err
	}
	if stderr, err := verify(); err == nil || !strings.Contains(stderr, "401") || !strings.Contains(stderr, "writ:revocations") {
		t.Errorf("writ verify without a feed token: %v, %q", err, stderr)
	}
	if stderr, err := verify("WRIT_FEED_TOKEN=" + feedToken); err != nil {
		t.Errorf("writ verify with a feed token: %v, %q", err, stderr)
	}
}

// TestServeRejectsSlowAndHostileClients checks that a client that sends its
// headers slowly, one that sends an oversized body and one that sends
// garbage each get an answer or a closed connection without disturbing a
// well-behaved client.
func TestServeRejectsSlowAndHostileClients(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	base, _ := startServer(t, dir)
	addr := strings.TrimPrefix(base, "http://")

	// A slow client holds a connection open with a partial request.
	slow, err := (&netDialer{}).dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprintf(slow, "GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\n")

	// Garbage on another connection.
	junk, err := (&netDialer{}).dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(junk, "\x16\x03\x01garbage\r\n\r\n")
	reply, _ := io.ReadAll(io.LimitReader(junk, 512))
	junk.Close()
	if !strings.Contains(string(reply), "400") {
		t.Errorf("garbage request answered %q, want a 400", reply)
	}

	// Meanwhile a normal client is served at once.
	start := time.Now()
	resp, err := http.Get(base + "/.well-known/jwks.json")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("normal client: %v", err)
	}
	resp.Body.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("normal client waited %v behind a slow one", d)
	}
	// A header section beyond the limit is refused.
	req, _ := http.NewRequest("GET", base+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("64 KiB header: %s, want 431", resp.Status)
		}
		resp.Body.Close()
	}
}

// TestServeTLS serves over HTTPS with a certificate made for the test.
func TestServeTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	writeFile(t, filepath.Join(dir, "cert.pem"), string(certPEM))
	writeFile(t, filepath.Join(dir, "key.pem"), string(keyPEM))
	cmd := writProcess(t, dir, "serve", "--addr", "127.0.0.1:0", "--tls-cert", "cert.pem", "--tls-key", "key.pem")
	base := waitListening(t, cmd)
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("serving %s, want https", base)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(base + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var disc struct{ Issuer string }
	json.NewDecoder(resp.Body).Decode(&disc)
	if resp.StatusCode != 200 || !strings.HasPrefix(disc.Issuer, "https://127.0.0.1:") {
		t.Errorf("discovery over TLS: %s, issuer %q", resp.Status, disc.Issuer)
	}
	if resp, err := http.Get(strings.Replace(base, "https://", "http://", 1) + "/healthz"); err == nil {
		if resp.StatusCode == 200 {
			t.Error("plain HTTP served on the TLS port")
		}
		resp.Body.Close()
	}
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "writ test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}
