package verifier_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/b64"
)

// permissionScopes returns 64 permissions, the issuer's limit of scopes,
// and a resource that only the last allows. With oneType, every scope
// begins with the resource's first segment, so that none is passed over
// at its first segment: the worst case of Allows.
func permissionScopes(oneType bool) (scopes, resource string) {
	format, resource := "svc%d/items/*:write", "svc63/items/7"
	if oneType {
		format, resource = "orders/i%d/*:write", "orders/i63/7"
	}
	s := make([]string, 64)
	for i := range s {
		s[i] = fmt.Sprintf(format, i)
	}
	return strings.Join(s, " "), resource
}

var allowedSink bool

// BenchmarkPermissions measures the permission check beside what it
// accompanies: Verify of an EdDSA token with 64 permissions, the same
// followed by Allows of the worst case (the last permission matches), Allows
// alone, and the floor, ed25519.Verify of the token's signature.
func BenchmarkPermissions(b *testing.B) {
	fx := fixedKeys()
	for _, oneType := range []bool{false, true} {
		scopes, resource := permissionScopes(oneType)
		token := fx.ed.jwt(nil, set("scope", scopes))
		v := newVerifier(b, fx.keys, nil)
		ctx := context.Background()
		c, err := v.Verify(ctx, token)
		if err != nil || !c.Allows(resource, "read") {
			b.Fatalf("Verify = %v; allowed %v", err, err == nil && c.Allows(resource, "read"))
		}
		name := "scopes=64-types"
		if oneType {
			name = "scopes=64-one-type"
		}
		b.Run(name+"/op=verify", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, token); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/op=verify+allows", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c, err := v.Verify(ctx, token)
				if err != nil || !c.Allows(resource, "read") {
					b.Fatal("refused")
				}
			}
		})
		b.Run(name+"/op=allows", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				allowedSink = c.Allows(resource, "read")
			}
		})
		signed, sig, _ := strings.Cut(token[strings.IndexByte(token, '.')+1:], ".")
		input := []byte(token[:strings.IndexByte(token, '.')+1] + signed)
		signature, err := b64.Decode(sig)
		if err != nil {
			b.Fatal(err)
		}
		pub := fx.ed.priv.Public().(ed25519.PublicKey)
		b.Run(name+"/op=floor", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !ed25519.Verify(pub, input, signature) {
					b.Fatal("bad signature")
				}
			}
		})
	}
}
