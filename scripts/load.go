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
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
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
	dir, err := os.MkdirTemp("", "writ-load-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	writ := filepath.Join(dir, "writ")
	run("go", "build", "-o", writ, "./cmd/writ")
	db := filepath.Join(dir, "writ.db")
	srv, writAddr := start(writ, "serve", "--db", db, "--issuer", iss, "--addr", "127.0.0.1:0", "--log-level", "warn")
	defer stop(srv)
	admin := strings.TrimSpace(run(writ, "token", "issue", "--db", db, "--issuer", iss,
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
	bareSrv, bareAddr := start(self, "-bare", doc)
	defer stop(bareSrv)

	inproc, closeInproc := newInProcessIssuer(ctx, dir)
	defer closeInproc()

	get := func(url string) func(context.Context, int) error {
		return func(ctx context.Context, _ int) error {
			return roundTrip(client, ctx, http.MethodGet, url, "", nil, http.StatusOK, len(jwks))
		}
	}
	issueURL := "http://" + writAddr + "/v1/tokens"
	body := []byte(`{"subject":"user-42","audience":["https://api.example"],"scopes":["read:items","write:items"],"ttl":"1h","name":"load"}`)
	req := issuer.Request{Subject: "user-42", Audience: []string{"https://api.example"},
		Scopes: []string{"read:items", "write:items"}, TTL: time.Hour, Name: "load", IssuedBy: "load"}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	input := make([]byte, 330) // the length of a writ EdDSA token's signing input
	rand.Read(input)

	scenarios := []struct {
		group, name string
		do          func(context.Context, int) error
	}{
		{"JWKS", "bare net/http, same bytes", get("http://" + bareAddr + "/.well-known/jwks.json")},
		{"JWKS", "writ serve", get(jwksURL)},
		{"Issue", "Ed25519 signing loop, in process", func(context.Context, int) error {
			ed25519.Sign(priv, input)
			return nil
		}},
		{"Issue", "issuer.Issue, in process", func(ctx context.Context, _ int) error {
			_, err := inproc.Issue(ctx, req)
			return err
		}},
		{"Issue", "writ serve POST /v1/tokens", func(ctx context.Context, _ int) error {
			return roundTrip(client, ctx, http.MethodPost, issueURL, "Bearer "+admin, body, http.StatusCreated, -1)
		}},
	}
	results := make([][]loadgen.Result, len(scenarios))
	for r := range *runs {
		for i, s := range scenarios {
			res := loadgen.Run(ctx, loadgen.Config{Workers: *workers, Duration: *duration, Warmup: *warmup, Do: s.do})
			log.Printf("run %d  %-6s %-34s %v", r+1, s.group, s.name, res)
			if res.FirstErr != nil {
				log.Printf("  first error: %v", res.FirstErr)
			}
			results[i] = append(results[i], res)
		}
	}

	var md strings.Builder
	fmt.Fprintf(&md, "%d workers, %d interleaved runs of %v (after %v of warm-up), medians; %s, %d CPUs, %s\n\n",
		*workers, *runs, *duration, *warmup, runtime.Version(), runtime.NumCPU(), time.Now().UTC().Format("2006-01-02"))
	md.WriteString("| | what | req/s | × baseline | p50 | p99 | errors |\n|---|---|---:|---:|---:|---:|---:|\n")
	var base float64
	for i, s := range scenarios {
		rps := median(results[i], func(r loadgen.Result) float64 { return r.PerSecond() })
		if i == 0 || s.group != scenarios[i-1].group {
			base = rps
		}
		var errs, reqs int64
		for _, r := range results[i] {
			errs += r.Errors
			reqs += r.Requests
		}
		fmt.Fprintf(&md, "| %s | %s | %.0f | %.2f | %s | %s | %d of %d |\n", s.group, s.name, rps, rps/base,
			ms(median(results[i], func(r loadgen.Result) float64 { return float64(r.P50) })),
			ms(median(results[i], func(r loadgen.Result) float64 { return float64(r.P99) })), errs, reqs)
	}
	fmt.Print("\n" + md.String())
	if *out != "" {
		if err := os.WriteFile(*out, []byte(md.String()), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

// roundTrip makes one request and checks its status (and body length,
// when wantLen is not negative), reading the body whole so that the
// connection is reused.
func roundTrip(c *http.Client, ctx context.Context, method, url, auth string, body []byte, want, wantLen int) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		return err
	case resp.StatusCode != want:
		return fmt.Errorf("%s %s: status %d", method, url, resp.StatusCode)
	case wantLen >= 0 && n != int64(wantLen):
		return fmt.Errorf("%s %s: %d bytes, want %d", method, url, n, wantLen)
	}
	return nil
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

// start runs a server and returns it with the address it announced on
// stderr ("… on ADDR …").
func start(name string, args ...string) (*exec.Cmd, string) {
	cmd := exec.Command(name, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		log.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		_, rest, ok := strings.Cut(sc.Text(), " on ")
		if !ok {
			continue
		}
		addr, _, _ := strings.Cut(rest, " ")
		go io.Copy(os.Stderr, stderr) // warnings and errors from now on
		return cmd, addr
	}
	log.Fatalf("%s exited before it listened: %v", name, errors.Join(sc.Err(), cmd.Wait()))
	return nil, ""
}

func stop(cmd *exec.Cmd) {
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
}

func run(name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		log.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out)
}

func median(rs []loadgen.Result, f func(loadgen.Result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

func ms(ns float64) string { return fmt.Sprintf("%.2f ms", ns/1e6) }
