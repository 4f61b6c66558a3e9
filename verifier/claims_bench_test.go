package verifier

import "testing"

var claimsSink *Claims

// BenchmarkClaimsParse measures the reading of a token's claims into the
// Claims that Verify returns, apart from the signature check and from the
// Claims' allocation.
func BenchmarkClaimsParse(b *testing.B) {
	for _, tc := range []struct {
		name, payload string
		paseto        bool
	}{
		{"JWT", `{"iss":"https://issuer.test","sub":"alice","aud":"api","exp":1772370000,"iat":1772366340,"nbf":1772366340,"jti":"AAECAwQFBgcICQoLDA0ODw","scope":"read:all write","client_id":"ci-deploy"}`, false},
		{"PASETO", `{"iss":"https://issuer.test","sub":"alice","aud":"api","exp":"2026-03-01T13:00:00Z","iat":"2026-03-01T11:59:00Z","nbf":"2026-03-01T11:59:00Z","jti":"AAECAwQFBgcICQoLDA0ODw","scope":"read:all write","client_id":"ci-deploy"}`, true},
	} {
		payload := []byte(tc.payload)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			c := new(Claims)
			claimsSink = c
			for b.Loop() {
				*c = Claims{raw: bytesToString(payload)}
				if err := c.parse(payload, tc.paseto); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
