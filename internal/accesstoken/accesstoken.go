// Package accesstoken is the format of writ's access tokens: it writes the
// claims of a JWT in the RFC 9068 profile or of a PASETO v4.public token,
// and the compact JWS or v4.public token around them, and it reads the
// claims back, strictly, for the verifier package (which checks the
// signatures and what the claims say).
//
// The encoders append into one buffer without reflection, and write what
// encoding/json would write for the same claims, member for member and
// byte for byte. Beyond what its signature costs, a token of a usual size
// takes one allocation: the token string. The parsers read with
// internal/jsonx and allocate nothing for claims of a usual size.
package accesstoken

import (
	"crypto"
	"crypto/ed25519"
	"strconv"
	"time"

	"github.com/writ-dev/writ/internal/alg"
	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/jsonx"
	"github.com/writ-dev/writ/internal/jws"
	"github.com/writ-dev/writ/internal/paseto"
)

// Typ is the JWS header typ of a JWT access token (RFC 9068 §2.1).
const Typ = "at+jwt"

// MaxAllowedIPs is the most prefixes an allowed_ips claim may carry.
const MaxAllowedIPs = 32

// Claims are the claims of an access token.
type Claims struct {
	Issuer   string   // iss
	Subject  string   // sub
	Audience []string // aud: a string when there is one, else an array
	Scope    string   // scope, space-separated; left out when empty
	ClientID string   // client_id
	ID       string   // jti
	// AllowedIPs is allowed_ips: the CIDR prefixes a token is bound to,
	// in canonical form; the member is left out when there are none.
	AllowedIPs []string

	IssuedAt  time.Time // iat
	ExpiresAt time.Time // exp
	// NotBefore is nbf. Written, zero means IssuedAt: writ's tokens are
	// valid from their issue. Read, zero means the token has none.
	NotBefore time.Time
}

// AppendJWTClaims appends c to dst as the JSON payload of a JWT, its times
// as NumericDate integers.
func AppendJWTClaims(dst []byte, c *Claims) []byte { return appendClaims(dst, c, false) }

// AppendPASETOClaims appends c to dst as the JSON message of a PASETO token,
// its times as RFC 3339 strings in UTC.
func AppendPASETOClaims(dst []byte, c *Claims) []byte { return appendClaims(dst, c, true) }

func appendClaims(dst []byte, c *Claims, rfc3339 bool) []byte {
	dst = jsonx.AppendString(append(dst, `{"iss":`...), c.Issuer)
	dst = jsonx.AppendString(append(dst, `,"sub":`...), c.Subject)
	dst = append(dst, `,"aud":`...)
	if len(c.Audience) == 1 {
		dst = jsonx.AppendString(dst, c.Audience[0])
	} else {
		dst = append(dst, '[')
		for i, a := range c.Audience {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonx.AppendString(dst, a)
		}
		dst = append(dst, ']')
	}
	dst = appendTime(append(dst, `,"exp":`...), c.ExpiresAt, rfc3339)
	dst = appendTime(append(dst, `,"iat":`...), c.IssuedAt, rfc3339)
	nbf := c.NotBefore
	if nbf.IsZero() {
		nbf = c.IssuedAt
	}
	dst = appendTime(append(dst, `,"nbf":`...), nbf, rfc3339)
	dst = jsonx.AppendString(append(dst, `,"jti":`...), c.ID)
	if c.Scope != "" {
		dst = jsonx.AppendString(append(dst, `,"scope":`...), c.Scope)
	}
	dst = jsonx.AppendString(append(dst, `,"client_id":`...), c.ClientID)
	if len(c.AllowedIPs) > 0 {
		dst = append(dst, `,"allowed_ips":[`...)
		for i, p := range c.AllowedIPs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonx.AppendString(dst, p)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

// appendTime appends t as a NumericDate, or as an RFC 3339 string in UTC
// (whose characters need no escaping).
func appendTime(dst []byte, t time.Time, rfc3339 bool) []byte {
	if !rfc3339 {
		return strconv.AppendInt(dst, t.Unix(), 10)
	}
	return append(t.UTC().AppendFormat(append(dst, '"'), time.RFC3339), '"')
}

// SignJWT returns the compact JWS of payload signed by key with a, under
// the protected header {"alg":a,"kid":kid,"typ":typ}. typ is [Typ] for
// access tokens; documents that must never pass for one carry another.
func SignJWT(a alg.Algorithm, kid, typ string, key crypto.Signer, payload []byte) (string, error) {
	// Room on the stack for the header, the token and the signature (RSA
	// up to 4096 bits) of a usual size; larger ones spill to the heap.
	var hb [256]byte
	h := append(hb[:0], `{"alg":`...)
	h = jsonx.AppendString(h, string(a))
	h = jsonx.AppendString(append(h, `,"kid":`...), kid)
	h = jsonx.AppendString(append(h, `,"typ":`...), typ)
	h = append(h, '}')

	var tb [2048]byte
	t := b64.AppendEncode(tb[:0], h)
	t = b64.AppendEncode(append(t, '.'), payload)
	var sb [512]byte
	sig, err := jws.AppendSignature(sb[:0], a, key, t)
	if err != nil {
		return "", err
	}
	return string(b64.AppendEncode(append(t, '.'), sig)), nil
}

// SignPASETO returns the v4.public token of c signed by priv, with the
// footer {"kid":kid}, kid being priv's PASERK k4.pid.
func SignPASETO(priv ed25519.PrivateKey, kid string, c *Claims) string {
	var mb [1024]byte
	var fb [160]byte
	footer := append(jsonx.AppendString(append(fb[:0], `{"kid":`...), kid), '}')
	return paseto.Sign(priv, AppendPASETOClaims(mb[:0], c), footer)
}
