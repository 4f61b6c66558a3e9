//go:build ignore

// replicas measures issuance and revocation through writ serve on each
// storage engine, and how fast a revocation made through one replica is
// enforced by another, with the closed-loop load generator of
// internal/loadgen:
//
//   - SQLite, one server (the embedded default);
//   - PostgreSQL, one replica;
//   - PostgreSQL, two replicas sharing the database, the clients spread
//     over both as a load balancer would.
//
// Issuance is POST /v1/tokens (an EdDSA at+jwt, its record committed
// before the answer); revocation is POST /v1/tokens/{jti}/revoke of tokens
// issued in the same run. The baseline is a bare Ed25519 signing loop in
// this process, in the same run. Propagation revokes a token through
// replica A and times, from A's answer, until replica B refuses the token
// (GET /v1/whoami, polled every millisecond).
//
// It builds cmd/writ, starts a throwaway PostgreSQL cluster (see
// internal/store/postgres/pgtest: Debian's postgresql, run as the user
// postgres when this runs as root) and the servers on 127.0.0.1, and
// removes everything when done. Runs are interleaved; medians are
// reported.
//
// Usage: go run scripts/replicas.go [-runs 3] [-duration 5s] [-workers 16] [-propagation 200] [-out docs/bench/replicas.md]
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/writ-dev/writ/internal/loadgen"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
)

const iss = "http://writ.replicas.test"

// setup is one deployment: its servers and an admin token.
type setup struct {
	name    string
	servers []string // base URLs
	procs   []*exec.Cmd
	admin   string

	mu   sync.Mutex
	pool []string // jtis issued and not yet revoked
}

func main() {
	runs := flag.Int("runs", 3, "interleaved runs of every measurement")
	duration := flag.Duration("duration", 5*time.Second, "measured time of each run")
	warmup := flag.Duration("warmup", time.Second, "unmeasured time before each run")
	workers := flag.Int("workers", 16, "concurrent clients (closed loop)")
	propagation := flag.Int("propagation", 200, "revocations timed from replica A to replica B")
	out := flag.String("out", "", "also write the Markdown tables to this file")
	flag.Parse()
	log.SetFlags(0)

	writ, dir := loadgen.Build("writ-replicas-")
	defer os.RemoveAll(dir)
	cluster, err := pgtest.Launch()
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Stop()

	var setups []*setup
	deploy := func(name, db string, replicas int) {
		key := filepath.Join(dir, fmt.Sprintf("master-%d.key", len(setups)))
		global := []string{"--db", db, "--master-key-file", key, "--issuer", iss}
		loadgen.Command(writ, append([]string{"init"}, global...)...)
		s := &setup{name: name}
		for range replicas {
			p, addr := loadgen.Start(writ, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-level", "warn"}, global...)...)
			s.procs = append(s.procs, p)
			s.servers = append(s.servers, "http://"+addr)
		}
		s.admin = "Bearer " + strings.TrimSpace(loadgen.Command(writ, append([]string{"token", "issue",
			"--subject", "load", "--audience", iss, "--scope", "writ:admin", "--ttl", "2h"}, global...)...))
		setups = append(setups, s)
	}
	newDB := func() string {
		url, err := cluster.CreateDatabase()
		if err != nil {
			log.Fatal(err)
		}
		return url
	}
	deploy("SQLite, 1 server", filepath.Join(dir, "writ.db"), 1)
	deploy("PostgreSQL, 1 replica", newDB(), 1)
	deploy("PostgreSQL, 2 replicas", newDB(), 2)
	defer func() {
		for _, s := range setups {
			for _, p := range s.procs {
				loadgen.Stop(p)
			}
		}
	}()

	client := &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: *workers, MaxConnsPerHost: *workers, DisableCompression: true,
	}}
	// Names are unique among a subject's live tokens: each issuance gets
	// its own.
	var named atomic.Int64
	body := func() []byte {
		return fmt.Appendf(nil, `{"subject":"user-42","audience":["https://api.example"],"scopes":["read:items","write:items"],"ttl":"1h","name":"load-%d"}`, named.Add(1))
	}
	issue := func(s *setup) func(context.Context, int) error {
		return func(ctx context.Context, w int) error {
			var resp []byte
			err := loadgen.RoundTrip(ctx, client, http.MethodPost, s.servers[w%len(s.servers)]+"/v1/tokens", s.admin, body(), http.StatusCreated, -1, &resp)
			if err != nil {
				return err
			}
			var tok struct{ JTI string }
			if err := json.Unmarshal(resp, &tok); err != nil || tok.JTI == "" {
				return fmt.Errorf("issuance answer without a jti: %v", err)
			}
			s.mu.Lock()
			s.pool = append(s.pool, tok.JTI)
			s.mu.Unlock()
			return nil
		}
	}
	revoke := func(s *setup) func(context.Context, int) error {
		reason := []byte(`{"reason":"load"}`)
		return func(ctx context.Context, w int) error {
			jti, ok := s.take()
			if !ok {
				return errors.New("no token left to revoke: issuance ran too short")
			}
			return loadgen.RoundTrip(ctx, client, http.MethodPost, s.servers[w%len(s.servers)]+"/v1/tokens/"+jti+"/revoke", s.admin, reason, http.StatusOK, -1, nil)
		}
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	input := make([]byte, 330) // the length of a writ EdDSA token's signing input
	rand.Read(input)

	scenarios := []loadgen.Scenario{{Group: "baseline", Name: "Ed25519 signing loop, in process", Do: func(context.Context, int) error {
		ed25519.Sign(priv, input)
		return nil
	}}}
	for _, s := range setups {
		scenarios = append(scenarios, loadgen.Scenario{Group: "Issue", Name: s.name, Do: issue(s)}, loadgen.Scenario{Group: "Revoke", Name: s.name, Do: revoke(s)})
	}
	ctx := context.Background()
	cfg := loadgen.Config{Workers: *workers, Duration: *duration, Warmup: *warmup}
	var md strings.Builder
	md.WriteString(loadgen.Table(scenarios, loadgen.Compare(ctx, scenarios, *runs, cfg), cfg, 0))

	two := setups[2]
	lat, err := propagate(ctx, client, two, *propagation)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(&md, "\nPropagation, %s: %d tokens revoked through replica A, each timed from A's answer until replica B refuses it\n\n",
		two.name, len(lat))
	md.WriteString("| p50 | p90 | p99 | max |\n|---:|---:|---:|---:|\n")
	fmt.Fprintf(&md, "| %s | %s | %s | %s |\n", loadgen.Millis(float64(loadgen.Percentile(lat, 50))), loadgen.Millis(float64(loadgen.Percentile(lat, 90))),
		loadgen.Millis(float64(loadgen.Percentile(lat, 99))), loadgen.Millis(float64(lat[len(lat)-1])))

	fmt.Print("\n" + md.String())
	if *out != "" {
		if err := os.WriteFile(*out, []byte(md.String()), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

// take removes a jti from the pool of tokens not yet revoked.
func (s *setup) take() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pool) == 0 {
		return "", false
	}
	jti := s.pool[len(s.pool)-1]
	s.pool = s.pool[:len(s.pool)-1]
	return jti, true
}

// propagate issues n tokens through replica B, checks that B accepts each,
// revokes it through replica A, and times from A's answer until B refuses
// it. It returns the times, sorted.
func propagate(ctx context.Context, c *http.Client, s *setup, n int) ([]time.Duration, error) {
	a, b := s.servers[0], s.servers[1]
	body := []byte(`{"subject":"propagation","audience":["https://api.example"],"ttl":"1h"}`)
	var lat []time.Duration
	for range n {
		var resp []byte
		if err := loadgen.RoundTrip(ctx, c, http.MethodPost, b+"/v1/tokens", s.admin, body, http.StatusCreated, -1, &resp); err != nil {
			return nil, err
		}
		var tok struct{ Token, JTI string }
		if err := json.Unmarshal(resp, &tok); err != nil {
			return nil, err
		}
		whoami := b + "/v1/whoami?audience=https://api.example"
		if err := loadgen.RoundTrip(ctx, c, http.MethodGet, whoami, "Bearer "+tok.Token, nil, http.StatusOK, -1, nil); err != nil {
			return nil, fmt.Errorf("replica B before the revocation: %w", err)
		}
		if err := loadgen.RoundTrip(ctx, c, http.MethodPost, a+"/v1/tokens/"+tok.JTI+"/revoke", s.admin, []byte(`{}`), http.StatusOK, -1, nil); err != nil {
			return nil, err
		}
		revoked := time.Now()
		for {
			err := loadgen.RoundTrip(ctx, c, http.MethodGet, whoami, "Bearer "+tok.Token, nil, http.StatusUnauthorized, -1, nil)
			if err == nil {
				break
			}
			if time.Since(revoked) > time.Minute {
				return nil, fmt.Errorf("replica B still accepts a token revoked a minute ago through replica A: %w", err)
			}
			time.Sleep(time.Millisecond)
		}
		lat = append(lat, time.Since(revoked))
	}
	slices.Sort(lat)
	return lat, nil
}
