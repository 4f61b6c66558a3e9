//go:build unix

// Command coldstart measures the cold start of the Lambda example beside
// a golang-jwt equivalent, a function that verifies nothing, the
// verifier-only program of DESIGN.md's footprint target and a Go hello
// world:
//
//	go run ./examples/lambda/coldstart [-n 30]
//
// It creates a writ issuer on loopback and builds each program as Lambda's
// provided.al2023 runtime runs a function (GOOS=linux GOARCH=amd64,
// stripped, -trimpath, -tags lambda.norpc, a binary named bootstrap) with
// that issuer's keys embedded. Then it starts each n times, interleaved,
// so that load from elsewhere on the machine falls on all alike, and
// prints for each its binary size and the medians and 90th percentiles of:
//
//   - init, for the Lambda functions: from just before the process is
//     started to its first request for work (GET
//     /runtime/invocation/next) to a fake Lambda Runtime API on loopback;
//   - first answer: from the same start to the answer to one token, the
//     first verification: the Lambda functions' response to their first
//     invocation, the verifier-only program's claims on stdout (the token
//     is on its stdin), and hello's greeting;
//   - over a bare Go process: the first answer's median less hello's, the
//     machine's cost of starting any Go program and reading a line from it;
//   - to main, for the two programs that report it: from the same start to
//     the first statement of their main, by the wall clock the program
//     reads there, which covers exec, the Go runtime's start and every
//     package's initialisation;
//   - main to answer, for the same two: from that first statement to just
//     after the answer was written, by the program's own monotonic clock;
//     it leaves out the runtime's start and the packages' initialisation;
//   - exit, for the same two: from the start until the process was reaped;
//
// and the medians of the CPU time (user and system) and of the minor page
// faults each process had until it ended: the Lambda functions are killed
// right after their answer, the others exit after it. Other load on the
// machine disturbs these less than the times, and where page faults are
// dear (in a virtual machine without nested paging, say), their count
// says where the time went. Before each round of starts it measures what a
// page fault on fresh memory costs the measuring process, and prints the
// median.
//
// writ's function is given a refresh interval (WRIT_REFRESH) of 12 hours,
// so that its embedded revocation data, published at the start of the
// run, never needs a refresh: the figures are those of verifying from
// embedded data. A function deployed with the default interval (30 s),
// from a build older than that, also starts a refresh from the issuer in
// the background as it starts, which these figures leave out.
//
// Lambda itself adds what no local run shows: downloading the code,
// starting the micro-VM, and its Runtime API's own latency.
package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/writ-dev/writ/examples/lambda/internal/lambdatest"
	"github.com/writ-dev/writ/issuer"
)

const audience = "https://api.example.com"

// A program is started in one of two ways.
const (
	lambdaFunction = iota // against the fake Runtime API, one invocation
	process               // with the token on stdin, answering on stdout
)

type program struct {
	name, pkg, about string
	kind             int
	answer           string // what the first line of a process's answer must hold
	files            map[string][]byte
	bin              string
	size             int64
	starts           []start
}

// start is what one start of a program measured, each from just before
// the process was started. Fields a kind of program does not measure are
// zero.
type start struct {
	init   time.Duration // to the first GET .../next (lambdaFunction)
	first  time.Duration // to the answer
	toMain time.Duration // to the first statement of main (process)
	inMain time.Duration // from that statement to the answer, by the program's clock (process)
	exit   time.Duration // to the process's exit (process)
	cpu    time.Duration // user and system time until the process ended
	faults int64         // minor page faults until the process ended
}

func main() {
	n := flag.Int("n", 30, "starts of each program")
	flag.Parse()
	if *n < 1 {
		fmt.Fprintln(os.Stderr, "coldstart: error: -n must be at least 1")
		os.Exit(2)
	}
	if err := run(os.Stdout, *n, true); err != nil {
		fmt.Fprintf(os.Stderr, "coldstart: error: %v\n", err)
		os.Exit(1)
	}
}

// run measures n starts of each program, built as deployed, or else as
// lambdatest.Build builds for a test, and writes the table to w.
func run(w io.Writer, n int, deploy bool) error {
	if deploy && (runtime.GOOS != "linux" || runtime.GOARCH != "amd64") {
		return fmt.Errorf("the programs are built for Lambda's linux/amd64 and run here: this is %s/%s", runtime.GOOS, runtime.GOARCH)
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
	jwks := map[string][]byte{"jwks.json": files["keys/.well-known/jwks.json"]}
	progs := []*program{
		{name: "writ", pkg: root, files: files, about: "examples/lambda: writ's verifier, keys and revocations embedded and followed"},
		{name: "golang-jwt", pkg: filepath.Join(root, "golangjwt"), files: jwks,
			about: "examples/lambda/golangjwt: golang-jwt/v5, embedded EdDSA keys, no revocation, no refresh"},
		{name: "baseline", pkg: filepath.Join(root, "baseline"), about: "examples/lambda/baseline: aws-lambda-go alone, verifies nothing"},
		{name: "verifier-only", pkg: filepath.Join(root, "coldstart", "verifyonly"), kind: process, files: jwks, answer: `"sub":"alice"`,
			about: "examples/lambda/coldstart/verifyonly: package verifier, embedded JWKS, token on stdin, no Lambda, no revocation"},
		{name: "hello", pkg: filepath.Join(root, "coldstart", "hello"), kind: process, answer: "hello, world",
			about: "examples/lambda/coldstart/hello: a Go hello world, what starting any Go process costs here"},
	}
	// Built together: each go build links alone, on one core.
	errs := make([]error, len(progs))
	var wg sync.WaitGroup
	for i, p := range progs {
		p.bin = filepath.Join(dir, p.name, "bootstrap")
		wg.Go(func() {
			if errs[i] = lambdatest.Build(ctx, p.pkg, p.bin, p.files, deploy); errs[i] != nil {
				return
			}
			st, err := os.Stat(p.bin)
			errs[i] = err
			if err == nil {
				p.size = st.Size()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	ev, err := json.Marshal(lambdatest.Event(tok.Token, "192.0.2.1"))
	if err != nil {
		return err
	}
	// The embedded revocation data stays younger than writ's function's
	// refresh interval however long the run: no start refreshes it in the
	// background while it answers, as one whose data had grown older than
	// WRIT_REFRESH (30 s by default) would.
	env := []string{"WRIT_ISSUER=" + iss.URL, "WRIT_AUDIENCE=" + audience, "WRIT_REQUIRE_SCOPE=orders:read",
		"WRIT_REFRESH=12h", "WRIT_MAX_STALENESS=24h"}
	var prices []time.Duration
	for i := range n {
		price, err := faultPrice()
		if err != nil {
			return err
		}
		prices = append(prices, price)
		for j := range progs {
			p := progs[(i+j)%len(progs)] // each goes first in turn
			var s start
			if p.kind == lambdaFunction {
				s, err = coldStart(ctx, p, env, ev)
			} else {
				s, err = processStart(ctx, p, env, tok.Token)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			p.starts = append(p.starts, s)
		}
	}
	build := "built as deployed (linux/amd64, stripped, -trimpath, -tags lambda.norpc)"
	if !deploy {
		build = "built as for a test"
	}
	fmt.Fprintf(w, "Cold start, %d interleaved starts each, %s, %s, %d CPUs\n\n", n, build, runtime.Version(), runtime.NumCPU())
	if err := report(w, progs); err != nil {
		return err
	}
	slices.Sort(prices)
	fmt.Fprintf(w, "\nA page fault on fresh memory costs %.1f µs here (median of %d rounds of %d, one before each round of starts).\n",
		float64(prices[len(prices)/2])/float64(time.Microsecond), n, faultPages)
	return nil
}

// faultPages is how many pages faultPrice touches.
const faultPages = 256

// faultPrice returns what one minor page fault costs this process: the
// time to touch faultPages pages of fresh anonymous memory, each once,
// over the faults that took. Where it is high, a program's page faults
// are much of its start.
func faultPrice() (time.Duration, error) {
	size := faultPages * os.Getpagesize()
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return 0, fmt.Errorf("mmap: %w", err)
	}
	defer syscall.Munmap(b)
	var before, after syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &before); err != nil {
		return 0, err
	}
	t0 := time.Now()
	for i := 0; i < size; i += os.Getpagesize() {
		b[i] = 1
	}
	d := time.Since(t0)
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &after); err != nil {
		return 0, err
	}
	faults := after.Minflt - before.Minflt
	if faults <= 0 {
		return 0, errors.New("touching fresh memory caused no page fault")
	}
	return d / time.Duration(faults), nil
}

// report writes the table of the programs' starts to w; the last program
// is the bare Go process that the others are compared with.
func report(w io.Writer, progs []*program) error {
	bare := median(progs[len(progs)-1], func(s start) time.Duration { return s.first })
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "program\tbinary (MB)\tinit median (ms)\tinit p90 (ms)\tfirst answer median (ms)\tfirst answer p90 (ms)\tover a bare Go process (ms)\tto main median (ms)\tmain to answer median (ms)\texit median (ms)\tCPU median (ms)\tpage faults median\t")
	for _, p := range progs {
		first := median(p, func(s start) time.Duration { return s.first })
		fmt.Fprintf(tw, "%s\t%.2f\t%s\t%s\t%.2f\t%.2f\t%.2f\t%s\t%s\t%s\t%.2f\t%d\t\n", p.name, float64(p.size)/1e6,
			column(p, lambdaFunction, 0.5, func(s start) time.Duration { return s.init }),
			column(p, lambdaFunction, 0.9, func(s start) time.Duration { return s.init }),
			ms(first), ms(quantile(p, 0.9, func(s start) time.Duration { return s.first })), ms(first-bare),
			column(p, process, 0.5, func(s start) time.Duration { return s.toMain }),
			column(p, process, 0.5, func(s start) time.Duration { return s.inMain }),
			column(p, process, 0.5, func(s start) time.Duration { return s.exit }),
			ms(median(p, func(s start) time.Duration { return s.cpu })),
			median(p, func(s start) int64 { return s.faults }))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, p := range progs {
		fmt.Fprintf(w, "%s: %s (%d bytes)\n", p.name, p.about, p.size)
	}
	return nil
}

// coldStart starts the Lambda function p against a Runtime API of its own,
// hands it ev, and measures the start until its answer, which must be a
// 200.
func coldStart(ctx context.Context, p *program, env []string, ev []byte) (start, error) {
	rt, err := lambdatest.NewRuntime()
	if err != nil {
		return start{}, err
	}
	defer rt.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.Command(p.bin)
	cmd.Env = append(env, "AWS_LAMBDA_RUNTIME_API="+rt.Addr)
	var log strings.Builder
	cmd.Stderr = &log
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return start{}, err
	}
	res, err := rt.Invoke(ctx, ev)
	cmd.Process.Kill()
	cmd.Wait()
	if err != nil {
		return start{}, fmt.Errorf("%w; its log:\n%s", err, log.String())
	}
	next, ok := rt.FirstNext()
	if !ok {
		return start{}, errors.New("answered without asking for work")
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(res.Body, &resp); err != nil || res.Error || resp.StatusCode != 200 {
		return start{}, fmt.Errorf("the token was not accepted: %s; its log:\n%s", res.Body, log.String())
	}
	return start{init: next.Sub(t0), first: res.At.Sub(t0), cpu: cpu(cmd.ProcessState), faults: faults(cmd.ProcessState)}, nil
}

// processStart starts the program p with token on its stdin and measures
// the start until the first line on its stdout, which must hold p.answer
// (the token's subject, or hello's greeting), and until its exit, which must be a success. The program reports on stderr
// when its main began and how long after that it answered, as
// "main=UNIXNANO answered=NANOSECONDS".
func processStart(ctx context.Context, p *program, env []string, token string) (start, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.bin)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(token + "\n")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return start{}, err
	}
	var log strings.Builder
	cmd.Stderr = &log
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return start{}, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	first := time.Since(t0)
	if err == nil {
		_, err = io.Copy(io.Discard, stdout)
	}
	if werr := cmd.Wait(); err == nil {
		err = werr
	}
	exit := time.Since(t0)
	if err != nil {
		return start{}, fmt.Errorf("%w; its stderr:\n%s", err, log.String())
	}
	if !strings.Contains(line, p.answer) {
		return start{}, fmt.Errorf("answered %q, want a line with %q", line, p.answer)
	}
	var mainAt, inMain int64
	if _, err := fmt.Sscanf(log.String(), "main=%d answered=%d\n", &mainAt, &inMain); err != nil {
		return start{}, fmt.Errorf("its stderr %q does not say when main began: %w", log.String(), err)
	}
	return start{first: first, toMain: time.Duration(mainAt - t0.UnixNano()), inMain: time.Duration(inMain), exit: exit,
		cpu: cpu(cmd.ProcessState), faults: faults(cmd.ProcessState)}, nil
}

// cpu is the user and system time of an ended process.
func cpu(ps *os.ProcessState) time.Duration { return ps.UserTime() + ps.SystemTime() }

// faults is the count of minor page faults of an ended process.
func faults(ps *os.ProcessState) int64 { return ps.SysUsage().(*syscall.Rusage).Minflt }

// column is the q-quantile of what f reads from p's starts, in
// milliseconds, if programs of p's kind measure it, or else "-".
func column(p *program, kind int, q float64, f func(start) time.Duration) string {
	if p.kind != kind {
		return "-"
	}
	return fmt.Sprintf("%.2f", ms(quantile(p, q, f)))
}

func median[T cmp.Ordered](p *program, f func(start) T) T { return quantile(p, 0.5, f) }

func quantile[T cmp.Ordered](p *program, q float64, f func(start) T) T {
	s := make([]T, len(p.starts))
	for i, st := range p.starts {
		s[i] = f(st)
	}
	slices.Sort(s)
	return s[int(q*float64(len(s)-1)+0.5)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
