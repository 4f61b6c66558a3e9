package verifier

import "github.com/writ-dev/writ/internal/alg"

// Algorithm is a signing algorithm, by its name on the wire: EdDSA, ES256,
// RS256 or PS256 (JWS, RFC 7518 and RFC 8037), or v4.public (PASETO). Its
// values are the constants below; ParseAlgorithm reads one from text.
type Algorithm = alg.Algorithm

// The algorithms a verifier can accept. The first four are JWS algorithms;
// V4Public is PASETO v4.public.
const (
	EdDSA    = alg.EdDSA
	ES256    = alg.ES256
	RS256    = alg.RS256
	PS256    = alg.PS256
	V4Public = alg.V4Public
)

// ParseAlgorithm returns the algorithm named s, exactly as on the wire
// (case matters: "EdDSA", "v4.public"), or an error listing the names it
// knows.
func ParseAlgorithm(s string) (Algorithm, error) { return alg.Parse(s) }
