package issuer

import (
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/b64"
)

// TestTokenIDNeverLooksLikeAFlag: without the redraw, about 1 in 64 jtis
// would start with '-'; in 10,000, none may.
func TestTokenIDNeverLooksLikeAFlag(t *testing.T) {
	seen := map[string]bool{}
	for range 10_000 {
		id := newTokenID()
		if strings.HasPrefix(id, "-") {
			t.Fatalf("jti %q starts with '-'", id)
		}
		raw, err := b64.Decode(id)
		if err != nil || len(raw) != 16 || seen[id] {
			t.Fatalf("jti %q: %d bytes, %v, repeated %v", id, len(raw), err, seen[id])
		}
		seen[id] = true
	}
}
