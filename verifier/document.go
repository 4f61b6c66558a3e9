package verifier

import (
	"context"
	"errors"
	"fmt"

	"github.com/writ-dev/writ/internal/jws"
)

// VerifyDocument checks doc, a compact JWS that a writ server signed as a
// document of type typ (its revocation feed, say) rather than as an access
// token, against keys, and returns its payload, which only then is read.
//
// It runs the JWS layer of Verify: a strict compact JWS and protected
// header (no crit, b64, jku, jwk, x5u, x5c…), the header's typ equal to typ
// exactly, a JWS algorithm (EdDSA, ES256, RS256 or PS256), the key of the
// header's kid from keys, the header's alg equal to the key's, and the
// signature. typ must be set and must not be at+jwt: a document never
// passes for an access token nor an access token for a document, and
// Verify refuses any other typ. Errors wrap ErrMalformed, ErrType,
// ErrAlgorithm, ErrUnknownKey (or another error of keys) or ErrSignature,
// as Verify's do.
//
// The payload is whatever JSON the document carries: the caller reads it,
// and checks what it says (its issuer, its times). Documents may be large,
// unlike tokens: the caller bounds doc's size.
func VerifyDocument(ctx context.Context, keys KeySource, typ, doc string) ([]byte, error) {
	if typ == "" || isAccessTokenType(typ) {
		return nil, errors.New("verifier: a document's typ must be set and must not be at+jwt")
	}
	if keys == nil {
		return nil, errors.New("verifier: no key source")
	}
	t, err := jws.Parse(doc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if t.Header.Typ != typ {
		return nil, fmt.Errorf("%w: typ %q, want %q", ErrType, t.Header.Typ, typ)
	}
	if i := algIndex(Algorithm(t.Header.Alg)); i < 0 || i == algIndex(V4Public) {
		return nil, fmt.Errorf("%w: %q", ErrAlgorithm, t.Header.Alg)
	}
	payload, _, err := verifySigned(ctx, keys, &t)
	return payload, err
}
