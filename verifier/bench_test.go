package verifier_test

import (
	"context"
	"testing"
)

// BenchmarkVerify measures Verify of a valid token of three kinds, with
// every check and no revocation checker. internal/bench compares writ with
// other libraries and with the raw signature check.
func BenchmarkVerify(b *testing.B) {
	f := fixedKeys()
	for _, tc := range []struct{ name, token string }{
		{"EdDSA", f.ed.jwt(nil, nil)},
		{"ES256", f.es.jwt(nil, nil)},
		{"PASETO", f.pk.paseto(nil)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			v := newVerifier(b, f.keys, nil)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tc.token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
