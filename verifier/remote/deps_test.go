package remote_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestFootprint keeps verifier/remote within the verifier's footprint
// (DESIGN.md "Verifier footprint"): what the verifier avoids,
// but net/http, which is its job: no database (it used to link
// database/sql through revocation), no rules or storage package of the
// issuing side, no server, no reflection-heavy JSON (the feed and key sets
// are read strictly).
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
			t.Errorf("remote depends on %s", d)
		}
		for _, b := range banned {
			if d == b || strings.HasPrefix(d, b+"/") {
				t.Errorf("remote depends on %s", d)
			}
		}
	}
}
