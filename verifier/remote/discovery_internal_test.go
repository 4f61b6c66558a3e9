package remote

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzParseDiscovery: no input makes parseDiscovery panic, and what it
// accepts names the issuer and URLs of its origin under its path alone.
func FuzzParseDiscovery(f *testing.F) {
	const iss = "https://auth.example.com/t"
	f.Add([]byte(`{"issuer":"https://auth.example.com/t","jwks_uri":"https://auth.example.com/t/.well-known/jwks.json","revocation_snapshot_uri":"https://auth.example.com/t/v1/revocations/manifest","grant_types_supported":[]}`))
	f.Add([]byte(`{"issuer":"https://auth.example.com/t","jwks_uri":"https://auth.example.com/t/../x"}`))
	f.Add([]byte(`{"issuer":"https://auth.example.com/t","paserk_uri":"https://evil.example/t/p"}`))
	f.Add([]byte(`{"issuer":"https://auth.example.com/t","jwks_uri":"https://auth.example.com/t/%2e%2e/x?q#f"}`))
	iu, err := url.Parse(iss)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := parseDiscovery(body, iu, iss)
		if err != nil {
			return
		}
		if d.Issuer != iss {
			t.Fatalf("issuer %q", d.Issuer)
		}
		for _, s := range []string{d.JWKS, d.PASERK, d.RevocationList, d.RevocationSnapshot} {
			if s == "" {
				continue
			}
			u, err := url.Parse(s)
			if err != nil || u.Host != iu.Host || u.Scheme != iu.Scheme || !strings.HasPrefix(u.Path, iu.Path+"/") || strings.Contains(u.Path, "/../") || u.RawQuery != "" || u.Fragment != "" {
				t.Fatalf("accepted %q", s)
			}
		}
	})
}
