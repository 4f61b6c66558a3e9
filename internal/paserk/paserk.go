// Package paserk serialises PASETO v4 public keys as PASERK strings
// (k4.public) and computes their key identifiers (k4.pid), as the PASERK
// specification defines them.
package paserk

import (
	"crypto/ed25519"
	"errors"
	"strings"

	"golang.org/x/crypto/blake2b"

	"github.com/writ-dev/writ/internal/b64"
)

// Prefixes of the PASERK types writ uses.
const (
	PublicPrefix = "k4.public."
	IDPrefix     = "k4.pid."
)

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
