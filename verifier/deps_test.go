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
// only the console's browser tests use). Only remote, bearer and usage,
// whose job is HTTP, may link net/http.
func TestFootprint(t *testing.T) {
	const writ = "github.com/writ-dev/writ"
	banned := []string{"database/sql", "modernc.org/sqlite", "encoding/json",
		writ + "/keys", writ + "/issuer", writ + "/revocation", writ + "/audit",
		writ + "/internal/store", writ + "/internal/server",
		"github.com/lestrrat-go/jwx", "github.com/golang-jwt/jwt",
		"github.com/chromedp"} // the console's browser tests' alone
	for pkg, http := range map[string]bool{".": false, "./revoked": false, "./remote": true, "./bearer": true, "./usage": true} {
		t.Run(pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", pkg).Output()
			if err != nil {
				t.Fatalf("go list: %v", err)
			}
			deps := strings.Fields(string(out))
			if len(deps) < 10 {
				t.Fatalf("go list -deps listed only %d packages", len(deps))
			}
			ban := banned
			if !http {
				ban = append(ban, "net/http")
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
// once, internal/eddsa), and golang.org/x/crypto's BLAKE2b (PASERK ids)
// with the golang.org/x/sys/cpu it needs. Any other module a verifier
// would link must be added here on purpose.
func TestFootprintModules(t *testing.T) {
	const writ = "github.com/writ-dev/writ/"
	allowed := []string{"filippo.io/edwards25519", "golang.org/x/crypto/blake2b", "golang.org/x/sys/cpu"}
	for _, pkg := range []string{".", "./revoked", "./remote", "./bearer", "./usage"} {
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
