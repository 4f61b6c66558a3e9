package verifier_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestFootprint keeps each package of the verifier side within the
// verifier's footprint (DESIGN.md "Verifier footprint"): no database, no
// rules or storage package of the issuing side (nor the root package, which
// opens storage), no server and no reflection-heavy JSON, so that a
// serverless function pays little at each cold start (nor chromedp, which
// only the console's browser tests use, nor aws-lambda-go, which only the
// Lambda example uses). Only remote, bearer and usage, whose job is HTTP,
// may link net/http.
//
// The verifier-only program of the footprint target
// (examples/lambda/coldstart/verifyonly) is held to the same bans, and the
// Lambda example (examples/lambda), a verifier program, to the same bans
// but for net/http and encoding/json, which aws-lambda-go links.
func TestFootprint(t *testing.T) {
	const writ = "github.com/writ-dev/writ"
	banned := []string{"database/sql", "modernc.org/sqlite", "encoding/json", "net/http",
		writ + "/keys", writ + "/issuer", writ + "/revocation", writ + "/audit",
		writ + "/internal/store", writ + "/internal/server",
		"github.com/lestrrat-go/jwx", "github.com/golang-jwt/jwt",
		"github.com/chromedp",          // the console's browser tests' alone
		"github.com/aws/aws-lambda-go"} // the Lambda example's alone
	for pkg, allowed := range map[string][]string{
		".": nil, "./revoked": nil, "./remote": {"net/http"}, "./bearer": {"net/http"}, "./usage": {"net/http"},
		"../examples/lambda/coldstart/verifyonly": nil,
		"../examples/lambda":                      {"net/http", "encoding/json", "github.com/aws/aws-lambda-go"},
	} {
		t.Run(pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", pkg).Output()
			if err != nil {
				t.Fatalf("go list: %v", err)
			}
			deps := strings.Fields(string(out))
			if len(deps) < 10 {
				t.Fatalf("go list -deps listed only %d packages", len(deps))
			}
			var ban []string
			for _, b := range banned {
				if !slices.Contains(allowed, b) {
					ban = append(ban, b)
				}
			}
			for _, d := range deps {
				if d == writ { // the root package, the front door over storage
					t.Errorf("%s depends on %s", pkg, d)
				}
				for _, b := range ban {
					if d == b || strings.HasPrefix(d, b+"/") {
						t.Errorf("%s depends on %s", pkg, d)
					}
				}
			}
		})
	}
}

// TestFootprintModules keeps the modules that the verifier side links to
// writ's own packages, the standard library and the few that DESIGN.md's
// "Dependencies" allow it: filippo.io/edwards25519 (Ed25519 keys decoded
// once, internal/eddsa), filippo.io/nistec (P-256 keys decoded once,
// internal/p256: the standard library's own P-256 arithmetic, published
// as a module), and golang.org/x/crypto's BLAKE2b (PASERK ids) with the
// golang.org/x/sys/cpu it needs. Any other module a verifier would link
// must be added here on purpose. The verifier-only program of the
// footprint target is held to the same.
func TestFootprintModules(t *testing.T) {
	const writ = "github.com/writ-dev/writ/"
	allowed := []string{"filippo.io/edwards25519", "filippo.io/nistec", "golang.org/x/crypto/blake2b", "golang.org/x/sys/cpu"}
	for _, pkg := range []string{".", "./revoked", "./remote", "./bearer", "./usage", "../examples/lambda/coldstart/verifyonly"} {
		t.Run(pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).Output()
			if err != nil {
				t.Fatalf("go list: %v", err)
			}
			deps := strings.Fields(string(out))
			if !slices.Contains(deps, "filippo.io/edwards25519") {
				t.Fatalf("go list -deps listed %v, without filippo.io/edwards25519", deps)
			}
			for _, d := range deps {
				ok := strings.HasPrefix(d, writ)
				for _, a := range allowed {
					ok = ok || d == a || strings.HasPrefix(d, a+"/")
				}
				if !ok {
					t.Errorf("%s depends on %s, a module the verifier's footprint does not allow", pkg, d)
				}
			}
		})
	}
}
