// Package alg names the signing algorithms writ issues and verifies tokens
// with. It is the one place those names are written; package verifier
// re-exports them for Go users, and every other package, internal or
// public, takes and returns this type.
package alg

import (
	"fmt"
	"strings"
)

// Algorithm is a signing algorithm, by its name on the wire: the alg of a
// JWS header and a JWK (RFC 7518, RFC 8037), or the version and purpose of
// a PASETO token. A value may hold a name writ does not know (one read from
// a token, say); Parse admits only the known ones.
type Algorithm string

// The algorithms writ knows. The first four are JWS algorithms; V4Public
// is PASETO v4.public.
const (
	EdDSA    Algorithm = "EdDSA"
	ES256    Algorithm = "ES256"
	RS256    Algorithm = "RS256"
	PS256    Algorithm = "PS256"
	V4Public Algorithm = "v4.public"
)

// all lists the algorithms in the order of the constants.
var all = [...]Algorithm{EdDSA, ES256, RS256, PS256, V4Public}

// Parse returns the algorithm named s, exactly as on the wire (case
// matters), or an error listing the names it knows.
func Parse(s string) (Algorithm, error) {
	for _, a := range all {
		if string(a) == s {
			return a, nil
		}
	}
	return "", fmt.Errorf("unsupported algorithm %q (want %s)", s, names())
}

// names lists the known algorithms as prose: "EdDSA, ES256, … or v4.public".
func names() string {
	var b strings.Builder
	for i, a := range all {
		switch {
		case i == len(all)-1:
			b.WriteString(" or ")
		case i > 0:
			b.WriteString(", ")
		}
		b.WriteString(string(a))
	}
	return b.String()
}
