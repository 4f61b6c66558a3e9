//go:build ignore

// load measures writ serve's throughput on loopback with the closed-loop
// load generator of internal/loadgen, each figure beside its baseline in
// the same run:
//
//   - JWKS: GET /.well-known/jwks.json from writ serve, against a bare
//     net/http handler (in a process of its own, like the server) that
//     serves the same bytes with the same headers;
//   - issuance: POST /v1/tokens with an admin token (one EdDSA at+jwt per
//     request, its record committed durably before the answer), against
//     the same issuer.Issue called in this process with no HTTP, and
//     against a bare Ed25519 signing loop over a token's signing input.
//
// It builds cmd/writ, starts writ serve on 127.0.0.1 with a new database
// in a temporary directory, and removes everything when done. Runs are
// interleaved, and the medians over runs are reported.
//
// Usage: go run scripts/load.go [-runs 3] [-duration 5s] [-workers 16] [-out docs/bench/load.md]
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/writ-dev/writ"
	"github.com/writ-dev/writ/internal/loadgen"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/verifier"
)

const iss = "http://writ.load.test"

func main() {
	runs := flag.Int("runs", 3, "interleaved runs of every measurement")
	duration := flag.Duration("duration", 5*time.Second, "measured time of each run")
	warmup := flag.Duration("warmup", time.Second, "unmeasured time before each run")
	workers := flag.Int("workers", 16, "concurrent clients (closed loop)")
	out := flag.String("out", "", "also write the Markdown table to this file")
	bare := flag.String("bare", "", "internal: serve this file's bytes as a bare JWKS handler")
	flag.Parse()
	log.SetFlags(0)
	if *bare != "" {
		serveBare(*bare)
		return
	}

	ctx := context.Background()
	writ, dir := loadgen.Build("writ-load-")
	defer os.RemoveAll(dir)
	db := filepath.Join(dir, "writ.db")
	srv, writAddr := loadgen.Start(writ, "serve", "--db", db, "--issuer", iss, "--addr", "127.0.0.1:0", "--log-level", "warn")
	defer loadgen.Stop(srv)
	admin := strings.TrimSpace(loadgen.Command(writ, "token", "issue", "--db", db, "--issuer", iss,
		"--subject", "load", "--audience", iss, "--scope", "writ:admin", "--ttl", "1h"))

	client := &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: *workers, MaxConnsPerHost: *workers, DisableCompression: true,
	}}
	jwksURL := "http://" + writAddr + "/.well-known/jwks.json"
	resp, err := client.Get(jwksURL)
	if err != nil {
		log.Fatal(err)
	}
	jwks, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	doc := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(doc, jwks, 0o600); err != nil {
		log.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	bareSrv, bareAddr := loadgen.Start(self, "-bare", doc)
	defer loadgen.Stop(bareSrv)

	inproc, closeInproc := newInProcessIssuer(ctx, dir)
	defer closeInproc()

	get := func(url string) func(context.Context, int) error {
		return func(ctx context.Context, _ int) error {
			return loadgen.RoundTrip(ctx, client, http.MethodGet, url, "", nil, http.StatusOK, len(jwks), nil)
		}
	}
	issueURL := "http://" + writAddr + "/v1/tokens"
	// Names are unique among a subject's live tokens: each issuance gets
	// its own.
	var named atomic.Int64
	body := func() []byte {
		return fmt.Appendf(nil, `{"subject":"user-42","audience":["https://api.example"],"scopes":["read:items","write:items"],"ttl":"1h","name":"load-%d"}`, named.Add(1))
	}
	req := issuer.Request{Subject: "user-42", Audience: []string{"https://api.example"},
		Scopes: []string{"read:items", "write:items"}, TTL: time.Hour, IssuedBy: "load"}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	input := make([]byte, 330) // the length of a writ EdDSA token's signing input
	rand.Read(input)

	scenarios := []loadgen.Scenario{
		{Group: "JWKS", Name: "bare net/http, same bytes", Do: get("http://" + bareAddr + "/.well-known/jwks.json")},
		{Group: "JWKS", Name: "writ serve", Do: get(jwksURL)},
		{Group: "Issue", Name: "Ed25519 signing loop, in process", Do: func(context.Context, int) error {
			ed25519.Sign(priv, input)
			return nil
		}},
		{Group: "Issue", Name: "issuer.Issue, in process", Do: func(ctx context.Context, _ int) error {
			req := req
			req.Name = fmt.Sprintf("load-%d", named.Add(1))
			_, err := inproc.Issue(ctx, req)
			return err
		}},
		{Group: "Issue", Name: "writ serve POST /v1/tokens", Do: func(ctx context.Context, _ int) error {
			return loadgen.RoundTrip(ctx, client, http.MethodPost, issueURL, "Bearer "+admin, body(), http.StatusCreated, -1, nil)
		}},
	}
	cfg := loadgen.Config{Workers: *workers, Duration: *duration, Warmup: *warmup}
	md := loadgen.Table(scenarios, loadgen.Compare(ctx, scenarios, *runs, cfg), cfg, -1)
	fmt.Print("\n" + md)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

// newInProcessIssuer opens a new database of its own with an EdDSA key,
// as writ init makes it, and returns its issuer.
func newInProcessIssuer(ctx context.Context, dir string) (*issuer.Issuer, func()) {
	path := filepath.Join(dir, "inproc.db")
	mk, err := keys.GenerateMasterKeyFile(path + ".key")
	if err != nil {
		log.Fatal(err)
	}
	w, err := writ.Open(ctx, writ.Config{Path: path, Create: true, MasterKey: mk, Issuer: iss, Actor: "load"})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := w.Keys.Ensure(ctx, verifier.EdDSA); err != nil {
		log.Fatal(err)
	}
	return w.Issuer, func() { w.Close() }
}

// serveBare serves file's bytes at /.well-known/jwks.json with the headers
// writ sends, on a loopback port it prints.
func serveBare(file string) {
	doc, err := os.ReadFile(file)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "serving on %s\n", ln.Addr())
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/jwk-set+json")
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("ETag", `"bare"`)
		w.Write(doc)
	}))
}
