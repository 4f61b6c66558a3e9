//go:build unix

package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/writ-dev/writ/examples/lambda/internal/lambdatest"
	"github.com/writ-dev/writ/issuer"
)

// process is the function's binary running against a fake Runtime API.
type process struct {
	cmd *exec.Cmd
	rt  *lambdatest.Runtime
	log string // the file of its stdout and stderr
}

// start runs bin with env and a Runtime API of its own, as Lambda starts
// a function: no arguments, its configuration in the environment.
func start(t *testing.T, bin string, env ...string) *process {
	t.Helper()
	rt, err := lambdatest.NewRuntime()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	p := &process{cmd: exec.Command(bin), rt: rt, log: filepath.Join(t.TempDir(), "log")}
	p.cmd.Env = append(env, "AWS_LAMBDA_RUNTIME_API="+rt.Addr)
	log, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close() // the process has its own copy
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		if t.Failed() {
			t.Logf("the function's log:\n%s", p.logged(t))
		}
	})
	return p
}

// logged returns what the process has logged so far.
func (p *process) logged(t *testing.T) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (p *process) invoke(t *testing.T, token, ip string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	ev, err := json.Marshal(event(token, ip))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	res, err := p.rt.Invoke(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if res.Error {
		t.Fatalf("the function failed: %s", res.Body)
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(res.Body, &resp); err != nil {
		t.Fatalf("response %s: %v", res.Body, err)
	}
	if strings.Contains(string(res.Body), token) && token != "" {
		t.Error("the answer holds the token")
	}
	return resp
}

// build builds the function with fx's files embedded, as TestLambdaRuntime
// says.
func build(t *testing.T, fx *fixture) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bootstrap")
	if err := lambdatest.Build(t.Context(), ".", bin, fx.files, false); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			t.Skipf("cannot build the function: %v", err)
		}
		t.Fatal(err)
	}
	return bin
}

// TestLambdaRuntime builds the function with the publish tree of a writ
// issuer on loopback embedded (for this machine,
// unstripped, with -race when the test has it, reusing the packages
// compiled for the test: coldstart builds it as deployed), and runs it
// against a fake Lambda Runtime API: it verifies, learns a revocation from
// the issuer, refreshes when it is thawed after a freeze longer than its
// staleness bound (SIGSTOP and SIGCONT, as Lambda freezes a process
// between invocations), keeps verifying once the issuer is out of reach
// until that bound, and reports a configuration error as an
// initialisation error.
func TestLambdaRuntime(t *testing.T) {
	fx := newFixture(t, serve)
	bin := build(t, fx)
	valid := fx.issue(t, issuer.Request{Subject: "alice"})
	env := []string{"WRIT_ISSUER=" + fx.iss.URL, "WRIT_AUDIENCE=" + audience, "WRIT_REQUIRE_SCOPE=orders:read", "WRIT_REALM=orders"}

	t.Run("init error", func(t *testing.T) {
		p := start(t, bin, "WRIT_ISSUER="+fx.iss.URL)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		doc, err := p.rt.InitError(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ ErrorType, ErrorMessage string }
		if err := json.Unmarshal(doc, &e); err != nil || e.ErrorType != "Writ.ConfigError" || !strings.Contains(e.ErrorMessage, "WRIT_AUDIENCE") {
			t.Errorf("init error %s (%v)", doc, err)
		}
		var exit *exec.ExitError
		if err := p.cmd.Wait(); !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("exit: %v, want status 1", err)
		}
	})

	t.Run("follows the issuer", func(t *testing.T) {
		const bound = 4 * time.Second
		// The refresh timeout is above what a refresh takes on a loaded
		// machine.
		p := start(t, bin, append(env, "WRIT_MAX_STALENESS="+bound.String(), "WRIT_REFRESH=500ms", "WRIT_REFRESH_TIMEOUT=10s")...)
		for _, tc := range []struct {
			token     string
			status    int
			challenge string
		}{
			{valid.Token, 200, ""},
			{"", 401, `Bearer realm="orders"`},
			{fx.revoked, 401, `Bearer realm="orders", error="invalid_token", error_description="token revoked"`},
			{fx.issue(t, issuer.Request{Subject: "alice", Scopes: []string{"billing:read"}}).Token, 403, `error="insufficient_scope"`},
		} {
			resp := p.invoke(t, tc.token, "192.0.2.1")
			if resp.StatusCode != tc.status || resp.Headers["Www-Authenticate"] != tc.challenge && !strings.Contains(resp.Headers["Www-Authenticate"], tc.challenge) {
				t.Errorf("status %d, WWW-Authenticate %q; want %d, %q", resp.StatusCode, resp.Headers["Www-Authenticate"], tc.status, tc.challenge)
			}
		}

		// A revocation after the build is learnt from the issuer.
		tok := fx.issue(t, issuer.Request{Subject: "alice"})
		fx.revoke(t, tok.ID)
		untilRevoked(t, func() events.APIGatewayV2HTTPResponse { return p.invoke(t, tok.Token, "192.0.2.1") })

		// Frozen past the bound, as Lambda freezes a process between
		// invocations, it refreshes in the first invocation after: it
		// waits for that refresh rather than fail closed.
		if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(bound + time.Second)
		if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		resp := p.invoke(t, valid.Token, "192.0.2.1")
		if age, err := strconv.Atoi(resp.Headers["Writ-Revocations-Age"]); resp.StatusCode != 200 || err != nil || time.Duration(age)*time.Second > bound {
			t.Errorf("thawed past the bound: status %d, Writ-Revocations-Age %q, %s", resp.StatusCode, resp.Headers["Writ-Revocations-Age"], resp.Body)
		}

		// Out of reach, the issuer is not needed until the bound.
		fx.iss.Stop()
		if resp := p.invoke(t, valid.Token, "192.0.2.1"); resp.StatusCode != 200 {
			t.Errorf("just after the issuer stopped: status %d, %s", resp.StatusCode, resp.Body)
		}
		deadline := time.Now().Add(bound + 20*time.Second)
		for {
			resp := p.invoke(t, valid.Token, "192.0.2.1")
			if resp.StatusCode == 503 {
				if !strings.Contains(resp.Body, "revocation data too stale") {
					t.Errorf("503 with body %q", resp.Body)
				}
				break
			}
			if resp.StatusCode != 200 || time.Now().After(deadline) {
				t.Fatalf("status %d (%s) with the issuer out of reach", resp.StatusCode, resp.Body)
			}
			time.Sleep(200 * time.Millisecond)
		}
		log := p.logged(t)
		if !strings.Contains(log, "writ: failing closed: revocation data too stale") {
			t.Errorf("the log does not say it fails closed:\n%s", log)
		}
		for _, tok := range []string{valid.Token, tok.Token, fx.revoked} {
			if strings.Contains(log, tok) {
				t.Error("the log holds a token")
			}
		}
	})

	t.Run("embedded only", func(t *testing.T) {
		fx.iss.Stop() // if the subtest before has not
		p := start(t, bin, append(env, "WRIT_MAX_STALENESS=1h")...)
		resp := p.invoke(t, valid.Token, "192.0.2.1")
		if resp.StatusCode != 200 || resp.Headers["Writ-Keys-Age"] != "embedded" || !strings.Contains(resp.Body, `"sub":"alice"`) {
			t.Errorf("status %d, Writ-Keys-Age %q, body %q", resp.StatusCode, resp.Headers["Writ-Keys-Age"], resp.Body)
		}
		if resp := p.invoke(t, fx.revoked, "192.0.2.1"); resp.StatusCode != 401 {
			t.Errorf("a token revoked before the build: status %d", resp.StatusCode)
		}
	})
}

// TestLambdaRuntimePublished runs the function built as TestLambdaRuntime
// does for an issuer whose publish tree a static file server serves: it
// refuses a token revoked before the build, from the embedded snapshot,
// and one revoked after, once the tree is published again.
func TestLambdaRuntimePublished(t *testing.T) {
	fx := newFixture(t, static)
	bin := build(t, fx)
	p := start(t, bin, "WRIT_ISSUER="+fx.iss.URL, "WRIT_AUDIENCE="+audience, "WRIT_REFRESH=100ms")
	tok := fx.issue(t, issuer.Request{Subject: "alice"})
	for _, tc := range []struct {
		token  string
		status int
	}{{tok.Token, 200}, {fx.revoked, 401}} {
		if resp := p.invoke(t, tc.token, "192.0.2.1"); resp.StatusCode != tc.status {
			t.Errorf("status %d, want %d: %s", resp.StatusCode, tc.status, resp.Body)
		}
	}
	fx.revoke(t, tok.ID)
	untilRevoked(t, func() events.APIGatewayV2HTTPResponse { return p.invoke(t, tok.Token, "192.0.2.1") })
}
