// Package paseto implements the wire format of PASETO v4.public tokens:
// pre-authentication encoding (PAE), signing and the strict split of a token
// into message, signature and footer. Claims and keys are the caller's.
package paseto

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/eddsa"
)

// Header is the prefix of every v4.public token.
const Header = "v4.public."

// PAE is PASETO's pre-authentication encoding of pieces, appended to dst:
// the piece count, then each piece after its length, as 64-bit little-endian
// integers with the top bit clear.
func PAE(dst []byte, pieces ...[]byte) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, uint64(len(pieces))&(1<<63-1))
	for _, p := range pieces {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(len(p))&(1<<63-1))
		dst = append(dst, p...)
	}
	return dst
}

// Sign returns the v4.public token for message and footer signed by priv,
// with an empty implicit assertion. The token string is its one
// allocation, for tokens of a usual size.
func Sign(priv ed25519.PrivateKey, message, footer []byte) string {
	// Room on the stack for the PAE, then the body (message||signature)
	// after it, and for the token; larger ones spill to the heap.
	var buf, out [2048]byte
	m2 := PAE(buf[:0], []byte(Header), message, footer, nil)
	body := append(append(m2[len(m2):], message...), ed25519.Sign(priv, m2)...)
	t := b64.AppendEncode(append(out[:0], Header...), body)
	if len(footer) > 0 {
		t = b64.AppendEncode(append(t, '.'), footer)
	}
	return string(t)
}

// Token is a v4.public token split into its parts.
type Token struct {
	Message   []byte
	Signature []byte
	Footer    []byte
}

// Parse splits a v4.public token. It checks the header and the strict
// base64url encoding of each part, not the signature.
func Parse(token string) (Token, error) {
	rest, ok := strings.CutPrefix(token, Header)
	if !ok {
		return Token{}, errors.New("not a v4.public token")
	}
	body, footer, hasFooter := strings.Cut(rest, ".")
	if hasFooter && (footer == "" || strings.IndexByte(footer, '.') >= 0) {
		return Token{}, errors.New("malformed footer")
	}
	// One buffer for body and footer: a single allocation per token.
	buf := make([]byte, b64.DecodedLen(len(body))+b64.DecodedLen(len(footer)))
	n, err := b64.DecodeInto(buf, body)
	if err != nil {
		return Token{}, fmt.Errorf("body: %w", err)
	}
	if n < ed25519.SignatureSize {
		return Token{}, errors.New("body shorter than a signature")
	}
	t := Token{Message: buf[: n-ed25519.SignatureSize : n-ed25519.SignatureSize], Signature: buf[n-ed25519.SignatureSize : n : n]}
	if hasFooter {
		m, err := b64.DecodeInto(buf[n:], footer)
		if err != nil {
			return Token{}, fmt.Errorf("footer: %w", err)
		}
		t.Footer = buf[n : n+m]
	}
	return t, nil
}

// Verify reports whether t carries a valid signature by pub, an Ed25519
// key prepared once for many signatures, given the implicit assertion
// (empty for writ's own tokens).
func Verify(pub *eddsa.PublicKey, t Token, implicit []byte) bool {
	var buf [512]byte
	m2 := PAE(buf[:0], []byte(Header), t.Message, t.Footer, implicit)
	return pub.Verify(m2, t.Signature)
}
