// Command coldstart measures the cold start of the Lambda example beside
// a golang-jwt equivalent and a function that verifies nothing:
//
//	go run ./examples/lambda/coldstart [-n 30]
//
// It creates a writ issuer on loopback, builds each function as Lambda's
// provided.al2023 runtime runs it (GOOS=linux GOARCH=amd64, stripped,
// -trimpath, -tags lambda.norpc, a binary named bootstrap) with that
// issuer's keys embedded, then starts each n times, interleaved, against
// a fake Lambda Runtime API on loopback with one token to verify, and
// prints for each its binary size; the medians and 90th percentiles of
// init, from just before the process is started to its first request for
// work (GET /runtime/invocation/next), and of first response, from the
// same start to its answer to that first invocation (the first
// verification); and the median CPU time the process used until it was
// killed right after that answer.
//
// Lambda itself adds what no local run shows: downloading the code,
// starting the micro-VM, and its Runtime API's own latency.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/writ-dev/writ/examples/lambda/internal/lambdatest"
	"github.com/writ-dev/writ/issuer"
)

const audience = "https://api.example.com"

type function struct {
	name, pkg, about string
	files            map[string][]byte
	bin              string
	size             int64
	init, first, cpu []time.Duration
}

func main() {
	n := flag.Int("n", 30, "starts of each function")
	flag.Parse()
	if err := run(*n, true); err != nil {
		fmt.Fprintf(os.Stderr, "coldstart: error: %v\n", err)
		os.Exit(1)
	}
}

// run measures n starts of each function, built as deployed, or else as
// lambdatest.Build builds for a test.
func run(n int, deploy bool) error {
	if deploy && (runtime.GOOS != "linux" || runtime.GOARCH != "amd64") {
		return fmt.Errorf("the functions are built for Lambda's linux/amd64 and run here: this is %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "coldstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	iss, err := lambdatest.NewIssuer(ctx, dir, false)
	if err != nil {
		return err
	}
	defer iss.Close()
	files, err := iss.Embedded(ctx)
	if err != nil {
		return err
	}
	tok, err := iss.DB.Issuer.Issue(ctx, issuer.Request{Subject: "alice", Audience: []string{audience}, Scopes: []string{"orders:read"}})
	if err != nil {
		return err
	}
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}", "github.com/writ-dev/writ/examples/lambda").Output()
	if err != nil {
		return fmt.Errorf("go list: %w", err)
	}
	root := strings.TrimSpace(string(out))
	funcs := []*function{
		{name: "writ", pkg: root, files: files, about: "examples/lambda: writ's verifier, keys and revocations embedded and followed"},
		{name: "golang-jwt", pkg: filepath.Join(root, "golangjwt"), files: map[string][]byte{"jwks.json": files["keys/.well-known/jwks.json"]},
			about: "examples/lambda/golangjwt: golang-jwt/v5, embedded EdDSA keys, no revocation, no refresh"},
		{name: "baseline", pkg: filepath.Join(root, "baseline"), about: "examples/lambda/baseline: aws-lambda-go alone, verifies nothing"},
	}
	for _, f := range funcs {
		f.bin = filepath.Join(dir, f.name, "bootstrap")
		if err := lambdatest.Build(ctx, f.pkg, f.bin, f.files, deploy); err != nil {
			return err
		}
		st, err := os.Stat(f.bin)
		if err != nil {
			return err
		}
		f.size = st.Size()
	}
	ev, err := json.Marshal(lambdatest.Event(tok.Token, "192.0.2.1"))
	if err != nil {
		return err
	}
	env := []string{"WRIT_ISSUER=" + iss.URL, "WRIT_AUDIENCE=" + audience, "WRIT_REQUIRE_SCOPE=orders:read"}
	for i := range n {
		for j := range funcs {
			f := funcs[(i+j)%len(funcs)] // each goes first in turn
			init, first, cpu, err := coldStart(ctx, f, env, ev)
			if err != nil {
				return fmt.Errorf("%s: %w", f.name, err)
			}
			f.init, f.first, f.cpu = append(f.init, init), append(f.first, first), append(f.cpu, cpu)
		}
	}
	build := "built as deployed (linux/amd64, stripped, -trimpath, -tags lambda.norpc)"
	if !deploy {
		build = "built as for a test"
	}
	fmt.Printf("Cold start, %d interleaved starts each, %s, %s, %d CPUs\n\n", n, build, runtime.Version(), runtime.NumCPU())
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 1, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "function\tbinary (MB)\tinit median (ms)\tinit p90 (ms)\tfirst response median (ms)\tfirst response p90 (ms)\tCPU median (ms)\t")
	for _, f := range funcs {
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", f.name, float64(f.size)/1e6,
			ms(quantile(f.init, 0.5)), ms(quantile(f.init, 0.9)), ms(quantile(f.first, 0.5)), ms(quantile(f.first, 0.9)), ms(quantile(f.cpu, 0.5)))
	}
	tw.Flush()
	fmt.Println()
	for _, f := range funcs {
		fmt.Printf("%s: %s (%d bytes)\n", f.name, f.about, f.size)
	}
	return nil
}

// coldStart starts f against a Runtime API of its own, hands it ev, and
// returns the times from the start to its first request for work and to
// its answer, which must be a 200, and the CPU time (user and system) the
// process used until then: less disturbed than the times by other load
// on the machine.
func coldStart(ctx context.Context, f *function, env []string, ev []byte) (init, first, cpu time.Duration, err error) {
	rt, err := lambdatest.NewRuntime()
	if err != nil {
		return 0, 0, 0, err
	}
	defer rt.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.Command(f.bin)
	cmd.Env = append(env, "AWS_LAMBDA_RUNTIME_API="+rt.Addr)
	var log strings.Builder
	cmd.Stderr = &log
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, err
	}
	res, err := rt.Invoke(ctx, ev)
	cmd.Process.Kill()
	cmd.Wait()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%w; its log:\n%s", err, log.String())
	}
	next, ok := rt.FirstNext()
	if !ok {
		return 0, 0, 0, errors.New("answered without asking for work")
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(res.Body, &resp); err != nil || res.Error || resp.StatusCode != 200 {
		return 0, 0, 0, fmt.Errorf("the token was not accepted: %s; its log:\n%s", res.Body, log.String())
	}
	return next.Sub(start), res.At.Sub(start), cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

func quantile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1)+0.5)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
