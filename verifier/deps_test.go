package verifier_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestFootprint keeps the verifier within the verifier's footprint
// (DESIGN.md "Verifier footprint"): no database, no rules or
// storage package of the issuing side (nor the root package, which opens
// storage), no server, no net/http and no reflection-heavy JSON, so that
// a serverless function pays little at each cold start. verifier/revoked,
// verifier/remote and verifier/bearer have tests of their own.
func TestFootprint(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed only %d packages", len(deps))
	}
	const writ = "github.com/writ-dev/writ"
	banned := []string{"database/sql", "modernc.org/sqlite", "encoding/json", "net/http",
		writ + "/keys", writ + "/issuer", writ + "/revocation", writ + "/internal/audit",
		writ + "/internal/store", writ + "/internal/server",
		"github.com/lestrrat-go/jwx", "github.com/golang-jwt/jwt"}
	for _, d := range deps {
		if d == writ { // the root package, the front door over storage
			t.Errorf("verifier depends on %s", d)
		}
		for _, b := range banned {
			if d == b || strings.HasPrefix(d, b+"/") {
				t.Errorf("verifier depends on %s", d)
			}
		}
	}
}
