package verifier_test

import (
	"context"
	"errors"
	"testing"

	"github.com/writ-dev/writ/verifier"
)

const docType = "writ-test-document+jwt"

// TestVerifyDocument: VerifyDocument runs Verify's JWS layer for a
// document of a given typ, and no access token passes for a document nor
// a document for an access token.
func TestVerifyDocument(t *testing.T) {
	ctx := context.Background()
	f := testKeys()
	const payload = `{"doc":1}`
	docHeader := func(k signingKey, mod func(map[string]any)) string {
		return k.header(func(h map[string]any) {
			h["typ"] = docType
			if mod != nil {
				mod(h)
			}
		})
	}
	for _, k := range []signingKey{f.ed, f.es, f.rs, f.ps} {
		got, err := verifier.VerifyDocument(ctx, f.keys, docType, k.signJWT(docHeader(k, nil), payload))
		if err != nil || string(got) != payload {
			t.Errorf("%s: %q, %v; want the payload", k.alg, got, err)
		}
	}
	// The same document is no access token.
	doc := f.ed.signJWT(docHeader(f.ed, nil), claimsJSON(false, nil))
	if _, err := newVerifier(t, f.keys, nil).Verify(ctx, doc); !errors.Is(err, verifier.ErrType) {
		t.Errorf("Verify of a document: %v, want ErrType", err)
	}
	tests := []struct {
		name string
		doc  string
		want error
	}{
		{"an access token", f.ed.jwt(nil, nil), verifier.ErrType},
		{"typ of another case", f.ed.signJWT(docHeader(f.ed, set("typ", "WRIT-TEST-DOCUMENT+JWT")), payload), verifier.ErrType},
		{"no typ", f.ed.signJWT(docHeader(f.ed, del("typ")), payload), verifier.ErrType},
		{"not a JWS", "a.b", verifier.ErrMalformed},
		{"crit", f.ed.signJWT(docHeader(f.ed, set("crit", []string{"x"})), payload), verifier.ErrMalformed},
		{"no kid", f.ed.signJWT(docHeader(f.ed, del("kid")), payload), verifier.ErrMalformed},
		{"unknown kid", f.ed.signJWT(docHeader(f.ed, set("kid", "nope")), payload), verifier.ErrUnknownKey},
		{"alg none", f.ed.signJWT(docHeader(f.ed, set("alg", "none")), payload), verifier.ErrAlgorithm},
		{"alg v4.public", f.pk.signJWT(docHeader(f.pk, nil), payload), verifier.ErrAlgorithm},
		{"alg not the key's", f.ed.signJWT(docHeader(f.ed, set("alg", verifier.ES256)), payload), verifier.ErrAlgorithm},
		{"signed by another key", f.other.signJWT(docHeader(f.other, nil), payload), verifier.ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := verifier.VerifyDocument(ctx, f.keys, docType, tt.doc)
			if got != nil {
				t.Errorf("payload %q with an error", got)
			}
			checkSentinel(t, err, tt.want)
		})
	}
	for _, typ := range []string{"", "at+jwt", "AT+JWT", "application/at+jwt"} {
		if _, err := verifier.VerifyDocument(ctx, f.keys, typ, f.ed.jwt(nil, nil)); err == nil {
			t.Errorf("VerifyDocument for typ %q accepted an access token", typ)
		}
	}
}
