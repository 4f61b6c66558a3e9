// Package b64 decodes and encodes unpadded base64url strictly, as JWS
// (RFC 7515 §2) and PASETO require: no padding, no characters outside the
// URL-safe alphabet, no whitespace, and no non-zero trailing bits, so that
// every byte string has exactly one accepted encoding.
package b64

import (
	"encoding/base64"
	"errors"
	"strings"
	"unsafe"
)

// ErrInvalid is returned for any input that is not canonical unpadded base64url.
var ErrInvalid = errors.New("invalid base64url")

var enc = base64.RawURLEncoding.Strict()

// valid reports whether s is free of the only bytes outside the URL-safe
// alphabet that the standard decoder skips instead of rejecting: '\r' and
// '\n'. Everything else that strict unpadded base64url forbids (padding,
// '+', '/', spaces, a length of 4n+1, non-zero trailing bits) enc rejects
// by itself. IndexByte is vectorised: this runs on every token.
func valid(s string) bool {
	return strings.IndexByte(s, '\n') < 0 && strings.IndexByte(s, '\r') < 0
}

// DecodedLen is the number of bytes that a valid encoding of length n decodes to.
func DecodedLen(n int) int { return enc.DecodedLen(n) }

// DecodeInto decodes s into dst, which must hold at least DecodedLen(len(s))
// bytes, and returns the number of bytes written.
func DecodeInto(dst []byte, s string) (int, error) {
	if !valid(s) {
		return 0, ErrInvalid
	}
	// Decode only reads its source, so the string's bytes are shared rather
	// than copied: this runs on every token a verifier sees.
	n, err := enc.Decode(dst, unsafe.Slice(unsafe.StringData(s), len(s)))
	if err != nil {
		return 0, ErrInvalid
	}
	return n, nil
}

// Decode decodes s into a new slice.
func Decode(s string) ([]byte, error) {
	dst := make([]byte, DecodedLen(len(s)))
	n, err := DecodeInto(dst, s)
	if err != nil {
		return nil, err
	}
	return dst[:n], nil
}

// Encode returns the unpadded base64url encoding of b.
func Encode(b []byte) string { return enc.EncodeToString(b) }

// AppendEncode appends the unpadded base64url encoding of b to dst.
func AppendEncode(dst, b []byte) []byte { return enc.AppendEncode(dst, b) }
