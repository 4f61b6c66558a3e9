package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Start runs a server process and returns it with the address it
// announced on stderr ("… on ADDR …"); from then on its stderr goes to
// this process's. It exits the program if the server does not start.
func Start(name string, args ...string) (*exec.Cmd, string) {
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

// Stop interrupts a server that Start started and waits for it.
func Stop(cmd *exec.Cmd) {
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
}

// Build builds cmd/writ (run from the module's root) into a new
// temporary directory named after prefix, and returns the program's path
// and the directory, which the caller removes when done.
func Build(prefix string) (writ, dir string) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		log.Fatal(err)
	}
	writ = filepath.Join(dir, "writ")
	Command("go", "build", "-o", writ, "./cmd/writ")
	return writ, dir
}

// Command runs a program to its end and returns its stdout, exiting the
// program if it fails.
func Command(name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		log.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out)
}

// RoundTrip makes one request and checks its status (and body length,
// when wantLen is not negative), reading the body whole so that the
// connection is reused; with out, it returns the body.
func RoundTrip(ctx context.Context, c *http.Client, method, url, auth string, body []byte, want, wantLen int, out *[]byte) error {
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
	var n int64
	if out != nil {
		*out, err = io.ReadAll(resp.Body)
		n = int64(len(*out))
	} else {
		n, err = io.Copy(io.Discard, resp.Body)
	}
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

// Median returns the median over rs of f.
func Median(rs []Result, f func(Result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// Millis formats nanoseconds as milliseconds.
func Millis(ns float64) string { return fmt.Sprintf("%.2f ms", ns/1e6) }

// Scenario is one row of a comparison: what Do measures, under a group
// heading.
type Scenario struct {
	Group, Name string
	Do          func(ctx context.Context, worker int) error
}

// Compare measures every scenario runs times with cfg (whose Do it
// replaces), the runs interleaved so that a passing load falls on all of
// them, logging each result. It returns the results of each scenario.
func Compare(ctx context.Context, scenarios []Scenario, runs int, cfg Config) [][]Result {
	results := make([][]Result, len(scenarios))
	for r := range runs {
		for i, s := range scenarios {
			cfg.Do = s.Do
			res := Run(ctx, cfg)
			log.Printf("run %d  %-8s %-34s %v", r+1, s.Group, s.Name, res)
			if res.FirstErr != nil {
				log.Printf("  first error: %v", res.FirstErr)
			}
			results[i] = append(results[i], res)
		}
	}
	return results
}

// Table returns the results of Compare as a Markdown table of medians,
// after a line saying how they were measured. Each row's rate is compared
// with the scenario at index baseline, or, when baseline is negative, with
// the first scenario of its group.
func Table(scenarios []Scenario, results [][]Result, cfg Config, baseline int) string {
	var md strings.Builder
	fmt.Fprintf(&md, "%d workers, %d interleaved runs of %v (after %v of warm-up), medians; %s, %d CPUs, %s\n\n",
		cfg.Workers, len(results[0]), cfg.Duration, cfg.Warmup, runtime.Version(), runtime.NumCPU(), time.Now().UTC().Format("2006-01-02"))
	md.WriteString("| | what | req/s | × baseline | p50 | p99 | errors |\n|---|---|---:|---:|---:|---:|---:|\n")
	var base float64
	for i, s := range scenarios {
		rps := Median(results[i], Result.PerSecond)
		switch {
		case baseline >= 0:
			base = Median(results[baseline], Result.PerSecond)
		case i == 0 || s.Group != scenarios[i-1].Group:
			base = rps
		}
		var errs, reqs int64
		for _, r := range results[i] {
			errs += r.Errors
			reqs += r.Requests
		}
		fmt.Fprintf(&md, "| %s | %s | %.0f | %.3f | %s | %s | %d of %d |\n", s.Group, s.Name, rps, rps/base,
			Millis(Median(results[i], func(r Result) float64 { return float64(r.P50) })),
			Millis(Median(results[i], func(r Result) float64 { return float64(r.P99) })), errs, reqs)
	}
	return md.String()
}
