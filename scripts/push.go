//go:build ignore

// push measures how fast a revocation reaches remote verifiers that follow
// writ serve's revocation list, and what they cost the server:
//
//   - long-poll: each verifier is a remote.Feed with FeedConfig.Wait and a
//     revoked.Snapshot reading it back to back, the server holding each
//     read (GET /v1/revocations?since=SEQ&wait=N) until the list changes;
//   - edge long-poll: each verifier is a remote.EdgeFeed (the snapshot
//     files and deltas that remote.FollowIssuer follows) with
//     EdgeFeedConfig.Wait, the server holding each read of the manifest
//     (GET /v1/revocations/manifest?epoch=E&seq=SEQ&wait=N) until the list
//     changes, and the verifier then reading the delta it names;
//   - polling: the verifiers of the first mode without a wait, their
//     snapshots refreshing every -poll, started spread over one interval
//     as independent processes would be.
//
// The verifiers run in this process, sharing one HTTP transport (one
// connection each) and one remote.KeySet; writ serve runs as its own
// process on a SQLite database, so that its memory and CPU are its own
// (read from its /metrics: process_resident_memory_bytes,
// go_memstats_heap_inuse_bytes, go_goroutines, process_cpu_seconds_total).
// Each revocation is made through the admin API (POST
// /v1/tokens/{jti}/revoke of a token issued for it) and timed, from the
// moment the request is sent, until each verifier's snapshot refuses the
// token (revoked.Snapshot.Changed wakes the verifier, which then asks
// CheckRevocation). Memory and goroutines per verifier are the server's
// figures with every verifier connected and idle, less the figures
// before any connected, over the verifiers; idle CPU is over -idle with
// every verifier connected, less the server's alone over as long, per
// verifier and second (process_cpu_seconds_total counts in ticks of 10
// ms: make -idle long enough); fan-out CPU is over the revocations, per
// revocation and verifier.
//
// Usage: go run scripts/push.go [-verifiers 1000] [-revocations 20] [-interval 500ms] [-wait 30s] [-poll 1s] [-idle 10s] [-out docs/bench/push.md]
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/writ-dev/writ/internal/loadgen"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/remote"
	"github.com/writ-dev/writ/verifier/revoked"
)

const iss = "http://writ.push.test"

func main() {
	verifiers := flag.Int("verifiers", 1000, "simulated remote verifiers")
	revocations := flag.Int("revocations", 20, "revocations timed in each mode")
	interval := flag.Duration("interval", 500*time.Millisecond, "pause between one revocation reaching every verifier and the next")
	wait := flag.Duration("wait", 30*time.Second, "long-poll wait (remote.FeedConfig.Wait)")
	poll := flag.Duration("poll", time.Second, "polling interval of the comparison (revoked.SnapshotConfig.Refresh)")
	idle := flag.Duration("idle", 10*time.Second, "time with every verifier connected and nothing revoked, over which idle CPU is measured")
	out := flag.String("out", "", "also write the Markdown table to this file")
	flag.Parse()
	log.SetFlags(0)

	writ, dir := loadgen.Build("writ-push-")
	defer os.RemoveAll(dir)
	global := []string{"--db", filepath.Join(dir, "writ.db"), "--issuer", iss}
	loadgen.Command(writ, append([]string{"init"}, global...)...)
	proc, addr := loadgen.Start(writ, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-level", "warn"}, global...)...)
	defer loadgen.Stop(proc)
	base := "http://" + addr
	admin := "Bearer " + strings.TrimSpace(loadgen.Command(writ, append([]string{"token", "issue",
		"--subject", "push", "--audience", iss, "--scope", "writ:admin", "--ttl", "2h"}, global...)...))

	ctx := context.Background()
	keys, err := remote.NewKeySet(ctx, remote.KeySetConfig{URL: base + "/.well-known/jwks.json"})
	if err != nil {
		log.Fatal(err)
	}
	defer keys.Close()
	h := &harness{base: base, admin: admin, keys: keys, n: *verifiers}
	// The server alone, idle: what the verifiers add is measured from it.
	before := h.metrics()
	time.Sleep(*idle)
	h.idleCPU = (h.metrics().cpu - before.cpu) / idle.Seconds()

	var md strings.Builder
	fmt.Fprintf(&md, "%d remote verifiers (remote.Feed or remote.EdgeFeed, and revoked.Snapshot) on loopback, one writ serve on SQLite; %d revocations through the admin API each, %v apart; %d CPUs, %s\n\n",
		*verifiers, *revocations, *interval, runtime.NumCPU(), runtime.Version())
	md.WriteString("| mode | p50 | p99 | max | revocation requests (feed, manifest, files) during the revocations, per revocation | server RSS per verifier | heap per verifier | goroutines per verifier | idle CPU per verifier | CPU per delivery |\n")
	md.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, m := range []mode{
		{name: fmt.Sprintf("long-poll, wait %v", *wait), wait: *wait, refresh: time.Second},
		{name: fmt.Sprintf("edge long-poll (EdgeFeed), wait %v", *wait), wait: *wait, refresh: time.Second, edge: true},
		{name: fmt.Sprintf("polling every %v", *poll), refresh: *poll},
	} {
		r := h.run(ctx, m, before, *revocations, *interval, *idle)
		fmt.Fprintf(&md, "| %s | %s | %s | %s | %.0f | %.1f KiB | %.1f KiB | %.2f | %.1f µs/s | %.1f µs |\n", m.name,
			loadgen.Millis(float64(loadgen.Percentile(r.lat, 50))), loadgen.Millis(float64(loadgen.Percentile(r.lat, 99))), loadgen.Millis(float64(r.lat[len(r.lat)-1])),
			r.requests, r.rss/1024, r.heap/1024, r.goroutines, r.idleCPU*1e6, r.fanoutCPU*1e6)
	}
	fmt.Print("\n" + md.String())
	if *out != "" {
		if err := os.WriteFile(*out, []byte(md.String()), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

// mode is how the verifiers follow the feed.
type mode struct {
	name    string
	wait    time.Duration // long-poll when set
	refresh time.Duration // SnapshotConfig.Refresh
	edge    bool          // an EdgeFeed rather than a Feed
}

// result is what one mode measured.
type result struct {
	lat                   []time.Duration // every verifier's, every revocation's, sorted
	requests              float64         // revocation requests per revocation
	rss, heap, goroutines float64         // per verifier
	idleCPU, fanoutCPU    float64         // seconds per verifier and second; per delivery
}

type harness struct {
	base, admin string
	keys        *remote.KeySet
	n           int
	client      http.Client
	idleCPU     float64 // the server's, alone: CPU seconds per second
}

// target is the revocation being timed.
type target struct {
	jti  string
	sent time.Time
	lat  []time.Duration // by verifier; zero until it refuses the token
	left atomic.Int64
	done chan struct{} // closed when every verifier refuses it
}

func (h *harness) run(ctx context.Context, m mode, before sample, revocations int, interval, idle time.Duration) result {
	transport := &http.Transport{MaxIdleConnsPerHost: h.n + 16, DisableCompression: true}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: m.wait + 30*time.Second}
	var current atomic.Pointer[target]
	snaps := make([]*revoked.Snapshot, h.n)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range snaps {
		var feed revoked.Feed
		var err error
		if m.edge {
			feed, err = remote.NewEdgeFeed(remote.EdgeFeedConfig{URL: h.base + remote.ManifestPath, Issuer: iss, Keys: h.keys, Client: client, Wait: m.wait})
		} else {
			feed, err = remote.NewFeed(remote.FeedConfig{URL: h.base + "/v1/revocations", Issuer: iss, Keys: h.keys, Client: client, Wait: m.wait})
		}
		if err != nil {
			log.Fatal(err)
		}
		snap, err := revoked.NewSnapshot(ctx, revoked.SnapshotConfig{Feed: feed, Refresh: m.refresh,
			OnError: func(err error) { log.Printf("verifier %d: %v", i, err) }})
		if err != nil {
			log.Fatal(err)
		}
		snaps[i] = snap
		wg.Go(func() { follow(snap, i, &current, stop) })
		// Independent verifiers are not in step: start them spread over
		// one polling interval.
		time.Sleep(m.refresh / time.Duration(h.n))
	}
	defer func() {
		close(stop)
		for _, s := range snaps {
			s.Close()
		}
		wg.Wait()
	}()
	if m.wait > 0 {
		for deadline := time.Now().Add(time.Minute); h.metrics().waiters < float64(h.n); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				log.Fatalf("%s: %v of %d verifiers held after a minute", m.name, h.metrics().waiters, h.n)
			}
		}
	}
	time.Sleep(2 * m.refresh)
	settled := h.metrics()
	time.Sleep(idle)
	idled := h.metrics()

	var lat []time.Duration
	for range revocations {
		jti := h.issue(ctx)
		t := &target{jti: jti, lat: make([]time.Duration, h.n), done: make(chan struct{})}
		t.left.Store(int64(h.n))
		t.sent = time.Now()
		current.Store(t)
		h.call(ctx, "POST", "/v1/tokens/"+jti+"/revoke", []byte(`{}`), http.StatusOK, nil)
		select {
		case <-t.done:
		case <-time.After(time.Minute):
			log.Fatalf("%s: %d verifiers still accept a token revoked a minute ago", m.name, t.left.Load())
		}
		lat = append(lat, t.lat...)
		time.Sleep(interval)
	}
	after := h.metrics()
	slices.Sort(lat)
	n := float64(h.n)
	return result{
		lat:        lat,
		requests:   (after.requests - idled.requests) / float64(revocations),
		rss:        (settled.rss - before.rss) / n,
		heap:       (settled.heap - before.heap) / n,
		goroutines: (settled.goroutines - before.goroutines) / n,
		idleCPU:    ((idled.cpu-settled.cpu)/idle.Seconds() - h.idleCPU) / n,
		// The pauses between revocations are in it: their idle share
		// is small beside the fan-out's, and counted as fan-out.
		fanoutCPU: (after.cpu - idled.cpu) / float64(revocations) / n,
	}
}

// follow records, for verifier i, when its snapshot first refuses each
// revocation's token.
func follow(snap *revoked.Snapshot, i int, current *atomic.Pointer[target], stop <-chan struct{}) {
	var seen *target
	for {
		changed := snap.Changed()
		if t := current.Load(); t != nil && t != seen &&
			errors.Is(snap.CheckRevocation(context.Background(), &verifier.Claims{ID: t.jti}), verifier.ErrRevoked) {
			t.lat[i] = time.Since(t.sent)
			seen = t
			if t.left.Add(-1) == 0 {
				close(t.done)
			}
		}
		select {
		case <-changed:
		case <-stop:
			return
		}
	}
}

// issue issues a token through the admin API and returns its jti.
func (h *harness) issue(ctx context.Context) string {
	var resp []byte
	h.call(ctx, "POST", "/v1/tokens", []byte(`{"subject":"push","audience":["https://api.example"],"ttl":"1h"}`), http.StatusCreated, &resp)
	var tok struct{ JTI string }
	if err := json.Unmarshal(resp, &tok); err != nil || tok.JTI == "" {
		log.Fatalf("issuance answer without a jti: %v", err)
	}
	return tok.JTI
}

func (h *harness) call(ctx context.Context, method, path string, body []byte, want int, out *[]byte) {
	if err := loadgen.RoundTrip(ctx, &h.client, method, h.base+path, h.admin, body, want, -1, out); err != nil {
		log.Fatal(err)
	}
}

// sample is the server's figures at one time, from its /metrics.
type sample struct {
	rss, heap, goroutines, cpu, waiters, requests float64
}

func (h *harness) metrics() sample {
	resp, err := h.client.Get(h.base + "/metrics")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var s sample
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Bytes()
		i := bytes.LastIndexByte(line, ' ')
		if i < 0 || line[0] == '#' {
			continue
		}
		v, err := strconv.ParseFloat(string(line[i+1:]), 64)
		if err != nil {
			continue
		}
		name := string(line[:i])
		switch {
		case name == "process_resident_memory_bytes":
			s.rss = v
		case name == "go_memstats_heap_inuse_bytes":
			s.heap = v
		case name == "go_goroutines":
			s.goroutines = v
		case name == "process_cpu_seconds_total":
			s.cpu = v
		case name == "writ_revocation_feed_waiters":
			s.waiters = v
		case strings.HasPrefix(name, "writ_http_request_duration_seconds_count{") && strings.Contains(name, `route="GET /v1/revocations`):
			s.requests += v
		}
	}
	if err := sc.Err(); err != nil {
		log.Fatal(err)
	}
	return s
}
