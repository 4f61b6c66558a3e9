package verifier_test

import (
	"context"
	"net/netip"
	"testing"
)

// BenchmarkVerify measures Verify of a valid token of three kinds, with
// every check and no revocation checker, from a client address. internal/bench compares writ with
// other libraries and with the raw signature check.
func BenchmarkVerify(b *testing.B) {
	f := fixedKeys()
	client := netip.MustParseAddr("10.1.2.3")
	for _, tc := range []struct{ name, token string }{
		{"EdDSA", f.ed.jwt(nil, nil)},
		{"ES256", f.es.jwt(nil, nil)},
		{"PASETO", f.pk.paseto(nil)},
		// bound to four networks, verified from inside the last
		{"EdDSA-allowed_ips", f.ed.jwt(nil, set("allowed_ips", []string{"192.0.2.0/24", "2001:db8::/32", "198.51.100.0/24", "10.0.0.0/8"}))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			v := newVerifier(b, f.keys, nil)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.VerifyFrom(ctx, tc.token, client); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
