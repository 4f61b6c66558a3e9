package alg

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, a := range all {
		if got, err := Parse(string(a)); got != a || err != nil {
			t.Errorf("Parse(%q) = %q, %v", a, got, err)
		}
	}
	for _, s := range []string{"", "eddsa", "EDDSA", "es256", "V4.public", "v4.local", "v3.public", "none", "HS256", "ES384", " EdDSA", "EdDSA "} {
		got, err := Parse(s)
		if got != "" || err == nil {
			t.Errorf("Parse(%q) = %q, %v; want an error", s, got, err)
			continue
		}
		const want = "(want EdDSA, ES256, RS256, PS256 or v4.public)"
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q): %v; want the error to list the names: %s", s, err, want)
		}
	}
}
