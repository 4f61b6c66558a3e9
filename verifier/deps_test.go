package verifier_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestFootprint keeps the verifier small enough for serverless cold starts:
// it must not link SQLite, the issuer, the keyring, net/http or reflection-
// heavy JSON. (DESIGN.md "Verifier footprint".)
func TestFootprint(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed only %d packages", len(deps))
	}
	for _, d := range deps {
		for _, banned := range []string{"modernc.org/sqlite", "database/sql", "net/http", "encoding/json",
			"github.com/writ-dev/writ/issuer", "github.com/writ-dev/writ/keys", "github.com/writ-dev/writ/revocation",
			"github.com/lestrrat-go/jwx", "github.com/golang-jwt/jwt"} {
			if d == banned || strings.HasPrefix(d, banned+"/") {
				t.Errorf("verifier depends on %s", d)
			}
		}
	}
}
