// Package paserk serialises PASETO v4 public keys as PASERK strings
// (k4.public) and computes their key identifiers (k4.pid), as the PASERK
// specification defines them, and writes and reads the PASERK set, writ's
// published set of such keys ([AppendSet], [ParseSetEntry]).
package paserk

import (
	"crypto/ed25519"
	"errors"
	"slices"
	"strings"

	"golang.org/x/crypto/blake2b"

	"github.com/writ-dev/writ/internal/b64"
)

// The PASERK types writ uses, and their prefixes.
const (
	PublicType   = "k4.public"
	PublicPrefix = PublicType + "."
	IDPrefix     = "k4.pid."
)

// secretTypes are the PASERK types whose data is a secret or symmetric key,
// bare, wrapped or sealed.
var secretTypes = [...]string{"local", "secret", "local-wrap", "secret-wrap", "local-pw", "secret-pw", "seal"}

// Type returns the version and type that start a PASERK string, such as
// "k4.public" for "k4.public.…", or "" when s does not start with a
// version ("k" and digits), a dot and a type.
func Type(s string) string {
	version, rest, ok := strings.Cut(s, ".")
	if !ok || len(version) < 2 || version[0] != 'k' || strings.Trim(version[1:], "0123456789") != "" {
		return ""
	}
	typ, _, _ := strings.Cut(rest, ".")
	if typ == "" {
		return ""
	}
	return version + "." + typ
}

// IsSecret reports whether s is a PASERK, of any version, of a type that
// holds a secret or symmetric key, bare or wrapped: one that must never be
// published.
func IsSecret(s string) bool {
	_, typ, _ := strings.Cut(Type(s), ".")
	return slices.Contains(secretTypes[:], typ)
}

// Public returns the k4.public PASERK of pub.
func Public(pub ed25519.PublicKey) string { return PublicPrefix + b64.Encode(pub) }

// ID returns the k4.pid of pub: the base64url BLAKE2b-264 digest of
// "k4.pid." followed by the key's k4.public PASERK.
func ID(pub ed25519.PublicKey) string {
	h, _ := blake2b.New(33, nil) // cannot fail: 33 is a valid size and there is no key
	h.Write([]byte(IDPrefix))
	h.Write([]byte(Public(pub)))
	return IDPrefix + b64.Encode(h.Sum(nil))
}

// ParsePublic reads a k4.public PASERK.
func ParsePublic(s string) (ed25519.PublicKey, error) {
	data, ok := strings.CutPrefix(s, PublicPrefix)
	if !ok {
		return nil, errors.New("not a k4.public PASERK")
	}
	if len(data) != 43 {
		return nil, errors.New("k4.public PASERK: wrong key length")
	}
	raw, err := b64.Decode(data)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, errors.New("k4.public PASERK: invalid encoding")
	}
	return ed25519.PublicKey(raw), nil
}
