package bearer_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestFootprint keeps verifier/bearer within the verifier's footprint
// (DESIGN.md "Verifier footprint"): what the verifier avoids,
// but net/http, which is its job: no database, no rules or storage package
// of the issuing side, no server, no reflection-heavy JSON.
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
	banned := []string{"database/sql", "modernc.org/sqlite", "encoding/json",
		writ + "/keys", writ + "/issuer", writ + "/revocation", writ + "/internal/audit",
		writ + "/internal/store", writ + "/internal/server",
		"github.com/lestrrat-go/jwx", "github.com/golang-jwt/jwt"}
	for _, d := range deps {
		if d == writ { // the root package, the front door over storage
			t.Errorf("bearer depends on %s", d)
		}
		for _, b := range banned {
			if d == b || strings.HasPrefix(d, b+"/") {
				t.Errorf("bearer depends on %s", d)
			}
		}
	}
}
