package accesstoken_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/accesstoken"
)

// parse reads data as a JWT's claims, or a PASETO token's.
func parse(data []byte, rfc3339 bool, c *accesstoken.Claims) error {
	if rfc3339 {
		return accesstoken.ParsePASETOClaims(data, c)
	}
	return accesstoken.ParseJWTClaims(data, c)
}

// write writes c as a JWT's claims, or a PASETO token's.
func write(c *accesstoken.Claims, rfc3339 bool) []byte {
	if rfc3339 {
		return accesstoken.AppendPASETOClaims(nil, c)
	}
	return accesstoken.AppendJWTClaims(nil, c)
}

// sameClaims reports whether a and b hold the same claims, times compared
// as instants.
func sameClaims(a, b *accesstoken.Claims) bool {
	return a.Issuer == b.Issuer && a.Subject == b.Subject && slices.Equal(a.Audience, b.Audience) &&
		a.Scope == b.Scope && a.ClientID == b.ClientID && a.ID == b.ID && slices.Equal(a.AllowedIPs, b.AllowedIPs) &&
		a.IssuedAt.Equal(b.IssuedAt) && a.ExpiresAt.Equal(b.ExpiresAt) && a.NotBefore.Equal(b.NotBefore)
}

// TestClaimsRoundTrip: what the encoders write, the parsers read back as
// it was; nbf, unset, is written as iat.
func TestClaimsRoundTrip(t *testing.T) {
	iat := time.Date(2026, 3, 1, 12, 30, 5, 0, time.UTC)
	for _, c := range []*accesstoken.Claims{
		tokenClaims(aud),
		tokenClaims(aud, "https://other.example", `"b"\`, "é😀\u2028"),
		{Issuer: "<&>", Subject: "a\x00b\x1f\x7f", Audience: []string{"x"}, ClientID: "c", ID: "j",
			IssuedAt: iat, ExpiresAt: iat.Add(time.Hour), NotBefore: iat.Add(time.Minute)},
		{Issuer: "i", Subject: "s", Audience: []string{"a"}, ClientID: "c", ID: "j",
			IssuedAt: time.Unix(1, 0), ExpiresAt: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
		{Issuer: "i", Subject: "s", Audience: []string{"a"}, ClientID: "c", ID: "j", AllowedIPs: []string{"10.0.0.0/8", "2001:db8::/32"},
			IssuedAt: iat, ExpiresAt: iat.Add(time.Hour)},
	} {
		for _, rfc3339 := range []bool{false, true} {
			var got accesstoken.Claims
			data := write(c, rfc3339)
			if err := parse(data, rfc3339, &got); err != nil {
				t.Fatalf("parse %s: %v", data, err)
			}
			want := *c
			if want.NotBefore.IsZero() {
				want.NotBefore = want.IssuedAt
			}
			if !sameClaims(&got, &want) {
				t.Errorf("read back %+v\nwant %+v", got, want)
			}
		}
	}
}

// TestParseClaimsStrict: the parsers refuse what a careless one would
// read: names case-folded or twice, claims of the wrong type or empty,
// dates out of range, required claims missing.
func TestParseClaimsStrict(t *testing.T) {
	const rest = `"sub":"s","aud":"a","exp":2000000000,"iat":1700000000,"jti":"j"`
	ok := `{"iss":"i",` + rest + `}`
	var c accesstoken.Claims
	if err := accesstoken.ParseJWTClaims([]byte(ok), &c); err != nil {
		t.Fatalf("%s: %v", ok, err)
	}
	for name, tc := range map[string]struct {
		data, msg string
	}{
		"not JSON":                {`{"iss":"i",` + rest, "invalid JSON"},
		"a name twice":            {`{"iss":"i","iss":"j",` + rest + `}`, "duplicate"},
		"a name case-folded":      {`{"ISS":"i",` + rest + `}`, `no "iss"`},
		"empty iss":               {`{"iss":"",` + rest + `}`, `claim "iss": want a non-empty string`},
		"iss a number":            {`{"iss":1,` + rest + `}`, `claim "iss"`},
		"aud an empty array":      {`{"iss":"i","sub":"s","aud":[],"exp":2000000000,"iat":1700000000,"jti":"j"}`, `no "aud"`},
		"aud of a number":         {`{"iss":"i","sub":"s","aud":["a",1],"exp":2000000000,"iat":1700000000,"jti":"j"}`, `claim "aud"`},
		"exp a string":            {`{"iss":"i","sub":"s","aud":"a","exp":"2000000000","iat":1700000000,"jti":"j"}`, `claim "exp": want a NumericDate`},
		"exp negative":            {`{"iss":"i","sub":"s","aud":"a","exp":-1,"iat":1700000000,"jti":"j"}`, `claim "exp"`},
		"exp after 9999":          {`{"iss":"i","sub":"s","aud":"a","exp":253402300800,"iat":1700000000,"jti":"j"}`, `claim "exp"`},
		"no jti":                  {`{"iss":"i","sub":"s","aud":"a","exp":2000000000,"iat":1700000000}`, `no "jti"`},
		"trailing data":           {ok + `x`, "invalid JSON"},
		"lone surrogate in scope": {`{"iss":"i","scope":"\ud800",` + rest + `}`, "invalid JSON"},
		"allowed_ips a string":    {`{"iss":"i","allowed_ips":"10.0.0.0/8",` + rest + `}`, `claim "allowed_ips": want a non-empty array`},
		"allowed_ips empty":       {`{"iss":"i","allowed_ips":[],` + rest + `}`, `claim "allowed_ips": want a non-empty array`},
		"allowed_ips of a number": {`{"iss":"i","allowed_ips":["10.0.0.0/8",1],` + rest + `}`, `claim "allowed_ips"`},
		"allowed_ips too many":    {`{"iss":"i","allowed_ips":[` + strings.Repeat(`"10.0.0.0/8",`, 32) + `"10.0.0.0/8"],` + rest + `}`, `more than 32 prefixes`},
	} {
		t.Run(name, func(t *testing.T) {
			var c accesstoken.Claims
			err := accesstoken.ParseJWTClaims([]byte(tc.data), &c)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%s: %v, want an error naming %q", tc.data, err, tc.msg)
			}
		})
	}
	// PASETO dates are RFC 3339 strings.
	for data, good := range map[string]bool{
		`{"iss":"i","sub":"s","aud":"a","exp":"2033-05-18T03:33:20Z","iat":"2023-11-14T22:13:20+01:00","jti":"j"}`: true,
		`{"iss":"i","sub":"s","aud":"a","exp":2000000000,"iat":"2023-11-14T22:13:20Z","jti":"j"}`:                  false,
		`{"iss":"i","sub":"s","aud":"a","exp":"2033-05-18 03:33:20Z","iat":"2023-11-14T22:13:20Z","jti":"j"}`:      false,
	} {
		var c accesstoken.Claims
		if err := accesstoken.ParsePASETOClaims([]byte(data), &c); (err == nil) != good {
			t.Errorf("%s: %v, want accepted %v", data, err, good)
		}
	}
}

// plainClaims are usual claims: nothing to escape, two audiences.
func plainClaims() *accesstoken.Claims {
	c := tokenClaims(aud, "https://other.example")
	c.Subject, c.ClientID = "user-42", "deploy"
	return c
}

// TestParseClaimsAllocations: claims of a usual size without escapes, with
// room lent for their audiences, are read without an allocation.
func TestParseClaimsAllocations(t *testing.T) {
	data := accesstoken.AppendJWTClaims(nil, plainClaims())
	var room [2]string
	n := testing.AllocsPerRun(100, func() {
		c := accesstoken.Claims{Audience: room[:0]}
		if err := accesstoken.ParseJWTClaims(data, &c); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per parse, want 0", n)
	}
}

func BenchmarkParseJWTClaims(b *testing.B) {
	data := accesstoken.AppendJWTClaims(nil, plainClaims())
	var room [2]string
	b.ReportAllocs()
	for b.Loop() {
		c := accesstoken.Claims{Audience: room[:0]}
		if err := accesstoken.ParseJWTClaims(data, &c); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParseClaims: the parsers never panic, and claims they read, the
// encoders write so that the parsers read them again alike (times to the
// second, nbf written as read) and write them again byte for byte. Claims
// the encoders cannot carry are left out of the comparison: a JWT time
// before 1970, a date whose year in UTC lies outside 0 to 9999, a missing
// client_id (writ's tokens always carry one).
func FuzzParseClaims(f *testing.F) {
	for _, c := range []*accesstoken.Claims{tokenClaims(aud), tokenClaims(aud, "b", "c")} {
		f.Add(accesstoken.AppendJWTClaims(nil, c), false)
		f.Add(accesstoken.AppendPASETOClaims(nil, c), true)
	}
	f.Add([]byte(`{"iss":"i","sub":"s","aud":["a"],"exp":2000000000.5,"iat":1e9,"nbf":0,"jti":"j","client_id":"c","x":[{}]}`), false)
	f.Add([]byte(`{"iss":"i","sub":"s","aud":"a","exp":"2033-05-18T03:33:20.25+02:00","iat":"0001-01-01T00:00:00Z","jti":"j","client_id":"c"}`), true)
	f.Fuzz(func(t *testing.T, data []byte, rfc3339 bool) {
		var c accesstoken.Claims
		if err := parse(data, rfc3339, &c); err != nil {
			return
		}
		if c.ClientID == "" {
			return
		}
		for _, tm := range []time.Time{c.IssuedAt, c.ExpiresAt, c.NotBefore} {
			if tm.IsZero() { // only nbf may be
				continue
			}
			if y := tm.UTC().Year(); y < 0 || y > 9999 || !rfc3339 && tm.Unix() < 0 {
				return
			}
		}
		enc := write(&c, rfc3339)
		var back accesstoken.Claims
		if err := parse(enc, rfc3339, &back); err != nil {
			t.Fatalf("parse of %s, written from %s: %v", enc, data, err)
		}
		want := c
		want.IssuedAt, want.ExpiresAt = c.IssuedAt.Truncate(time.Second), c.ExpiresAt.Truncate(time.Second)
		want.NotBefore = c.NotBefore.Truncate(time.Second)
		if c.NotBefore.IsZero() {
			want.NotBefore = want.IssuedAt
		}
		if !sameClaims(&back, &want) {
			t.Fatalf("read back %+v\nwant %+v", back, want)
		}
		if enc2 := write(&back, rfc3339); !bytes.Equal(enc2, enc) {
			t.Fatalf("written again %s, first %s", enc2, enc)
		}
	})
}
