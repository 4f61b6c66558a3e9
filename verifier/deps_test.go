package verifier_test

import (
	"os/exec"
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
