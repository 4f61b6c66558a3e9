// Package jws splits a compact JWS (RFC 7515 §7.1), reads its protected
// header strictly, and checks and makes signatures for the four algorithms
// writ supports. It knows nothing about claims, key sets or time.
package jws

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/writ-dev/writ/internal/alg"
	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/eddsa"
	"github.com/writ-dev/writ/internal/jsonx"
	"github.com/writ-dev/writ/internal/p256"
)

// MaxHeader bounds the encoded protected header.
const MaxHeader = 1024

// Header holds the protected header members writ reads. Alg is as the
// token says: the caller checks it against the algorithms it accepts.
type Header struct {
	Alg string
	Kid string
	Typ string
}

// Token is a compact JWS split into its parts. SigningInput and Payload
// share memory with the input; Signature, Header.Alg and Header.Typ share
// the token's one decoding buffer, which is never written again once they
// point into it. Header.Kid is a copy of its own, so that a key source may
// keep it (in a cache of unknown ids, say) without holding the buffer.
type Token struct {
	Header       Header
	SigningInput string // the encoded header, '.', the encoded payload
	Payload      string // the encoded payload
	Signature    []byte

	payload []byte // room reserved for the decoded payload; see DecodePayload
}

// DecodePayload decodes the payload into room that Parse reserved for it,
// so that verifying a token allocates one buffer for all its parts. It is
// called once the signature is verified, and once only: the result may be
// shared by strings that must never change.
func (t Token) DecodePayload() ([]byte, error) {
	if cap(t.payload) < b64.DecodedLen(len(t.Payload)) {
		return b64.Decode(t.Payload)
	}
	n, err := b64.DecodeInto(t.payload[:cap(t.payload)], t.Payload)
	if err != nil {
		return nil, err
	}
	return t.payload[:n:n], nil
}

// refused lists header parameters that would have writ trust something other
// than its own key set (jku, x5u, jwk, x5c), change what is signed (b64,
// crit), or mark a JWE (enc, zip). A token carrying any of them is refused
// outright rather than silently read as something else.
var refused = [...]string{"crit", "b64", "jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256", "enc", "zip"}

// Parse splits token into its three parts and reads the protected header.
// It does not check the signature, nor decode the payload (see
// DecodePayload).
func Parse(token string) (Token, error) {
	h, rest, ok := strings.Cut(token, ".")
	if !ok {
		return Token{}, errors.New("not a compact JWS: no '.'")
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok {
		return Token{}, errors.New("not a compact JWS: two parts, want three")
	}
	if strings.IndexByte(sig, '.') >= 0 {
		return Token{}, errors.New("not a compact JWS: more than three parts (JWE is not accepted)")
	}
	if h == "" || payload == "" || sig == "" {
		return Token{}, errors.New("not a compact JWS: empty part")
	}
	if len(h) > MaxHeader {
		return Token{}, errors.New("header too large")
	}
	// One buffer for the decoded header, payload and signature, in that
	// order: a single allocation per token. Each part has a region of its
	// own, written once.
	hn, pn, sn := b64.DecodedLen(len(h)), b64.DecodedLen(len(payload)), b64.DecodedLen(len(sig))
	buf := make([]byte, hn+pn+sn)
	n, err := b64.DecodeInto(buf[:hn], h)
	if err != nil {
		return Token{}, fmt.Errorf("header: %w", err)
	}
	hdr, err := parseHeader(buf[:n:n])
	if err != nil {
		return Token{}, err
	}
	sigBuf := buf[hn+pn:]
	n, err = b64.DecodeInto(sigBuf, sig)
	if err != nil {
		return Token{}, fmt.Errorf("signature: %w", err)
	}
	return Token{
		Header:       hdr,
		SigningInput: token[:len(h)+1+len(payload)],
		Payload:      payload,
		Signature:    sigBuf[:n:n],
		payload:      buf[hn : hn : hn+pn],
	}, nil
}

// parseHeader reads the decoded header data, which must never be written
// again: Alg and Typ share its memory.
func parseHeader(data []byte) (Header, error) {
	var h Header
	err := jsonx.Members(data, func(name []byte, v jsonx.Value) error {
		var dst *string
		switch string(name) {
		case "alg":
			dst = &h.Alg
		case "kid":
			dst = &h.Kid
		case "typ":
			dst = &h.Typ
		default:
			for _, r := range refused {
				if string(name) == r {
					return fmt.Errorf("header parameter %q is not accepted", r)
				}
			}
			return nil
		}
		b, err := v.Bytes()
		if err != nil {
			return fmt.Errorf("header parameter %q: want a string", name)
		}
		if dst == &h.Kid {
			*dst = string(b) // a copy: key sources may keep it
		} else {
			*dst = unsafe.String(unsafe.SliceData(b), len(b))
		}
		return nil
	})
	if err != nil {
		return Header{}, fmt.Errorf("header: %w", err)
	}
	if h.Alg == "" {
		return Header{}, errors.New(`header: no "alg"`)
	}
	return h, nil
}

// pssOptions are PS256's, for signing and verifying: SHA-256 and a salt as
// long as the hash (RFC 7518 §3.5).
var pssOptions = rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}

// Verify reports whether sig is a valid signature of input under pub with
// a: EdDSA, ES256, RS256 or PS256. pub must be the key type that a uses:
// for EdDSA an Ed25519 key prepared once for many signatures
// (*eddsa.PublicKey, which accepts what ed25519.Verify accepts), for ES256
// a P-256 key prepared likewise (*p256.PublicKey, which accepts what
// ecdsa.VerifyASN1 accepts), else *rsa.PublicKey; any other pairing, or
// algorithm, fails.
func Verify(a alg.Algorithm, pub crypto.PublicKey, input string, sig []byte) bool {
	msg := unsafe.Slice(unsafe.StringData(input), len(input))
	switch a {
	case alg.EdDSA:
		k, ok := pub.(*eddsa.PublicKey)
		return ok && k.Verify(msg, sig)
	case alg.ES256:
		k, ok := pub.(*p256.PublicKey)
		if !ok || len(sig) != p256.SignatureSize {
			return false
		}
		h := sha256.Sum256(msg)
		return k.Verify(h[:], sig)
	case alg.RS256:
		k, ok := pub.(*rsa.PublicKey)
		h := sha256.Sum256(msg)
		return ok && rsa.VerifyPKCS1v15(k, crypto.SHA256, h[:], sig) == nil
	case alg.PS256:
		k, ok := pub.(*rsa.PublicKey)
		h := sha256.Sum256(msg)
		return ok && rsa.VerifyPSS(k, crypto.SHA256, h[:], sig, &pssOptions) == nil
	}
	return false
}

// AppendSignature appends to dst the signature of input by key with a, in
// the form a JWS carries (RFC 7518 §3): r||s of 32 bytes each for ES256.
// key must be the kind of key a uses: an Ed25519, P-256 or RSA private key,
// or another crypto.Signer (a hardware key, say) whose public half is one.
func AppendSignature(dst []byte, a alg.Algorithm, key crypto.Signer, input []byte) ([]byte, error) {
	var (
		msg  []byte
		opts crypto.SignerOpts = crypto.SHA256
	)
	switch a {
	case alg.EdDSA:
		if k, ok := key.(ed25519.PrivateKey); ok {
			if len(k) != ed25519.PrivateKeySize {
				return nil, errors.New("jws: malformed Ed25519 private key")
			}
			// ed25519.Sign inlines, so that its result stays on the
			// stack: signing allocates nothing.
			return append(dst, ed25519.Sign(k, input)...), nil
		}
		// Another signer gets a copy, so that input never escapes to
		// the heap for the sake of this rare path.
		msg, opts = bytes.Clone(input), crypto.Hash(0)
	case alg.ES256, alg.RS256, alg.PS256:
		h := sha256.Sum256(input)
		msg = h[:]
		if a == alg.PS256 {
			opts = &pssOptions
		}
	default:
		return nil, fmt.Errorf("jws: cannot sign with algorithm %q", a)
	}
	if !fits(a, key.Public()) {
		return nil, fmt.Errorf("jws: a %T does not sign %s", key, a)
	}
	sig, err := key.Sign(rand.Reader, msg, opts)
	if err != nil {
		return nil, fmt.Errorf("jws: sign with %s: %w", a, err)
	}
	if a == alg.ES256 {
		return derToP1363(dst, sig)
	}
	return append(dst, sig...), nil
}

// fits reports whether pub is the kind of key that a signs with, so that
// an ECDSA key never makes an ASN.1 signature labelled RS256, say.
func fits(a alg.Algorithm, pub crypto.PublicKey) bool {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return a == alg.EdDSA
	case *ecdsa.PublicKey:
		return a == alg.ES256 && k.Curve == elliptic.P256()
	case *rsa.PublicKey:
		return a == alg.RS256 || a == alg.PS256
	}
	return false
}

// derToP1363 appends the fixed-width r||s form (RFC 7518 §3.4) of der, a
// P-256 signature as the ASN.1 SEQUENCE that crypto/ecdsa makes.
func derToP1363(dst, der []byte) ([]byte, error) {
	// A P-256 SEQUENCE is shorter than 128 bytes: its length is one byte.
	if len(der) < 2 || der[0] != 0x30 || int(der[1]) != len(der)-2 {
		return nil, errors.New("jws: malformed ECDSA signature")
	}
	r, rest, ok1 := readInt(der[2:])
	s, rest, ok2 := readInt(rest)
	if !ok1 || !ok2 || len(rest) != 0 {
		return nil, errors.New("jws: malformed ECDSA signature")
	}
	var zero [32]byte
	dst = append(append(dst, zero[:32-len(r)]...), r...)
	return append(append(dst, zero[:32-len(s)]...), s...), nil
}

// readInt reads a DER INTEGER of at most 32 bytes, not counting the zero
// that keeps it positive, from the start of b and returns its big-endian
// bytes and what follows it.
func readInt(b []byte) (v, rest []byte, ok bool) {
	if len(b) < 3 || b[0] != 0x02 || b[1] == 0 || int(b[1]) > len(b)-2 {
		return nil, nil, false
	}
	v, rest = b[2:2+b[1]], b[2+b[1]:]
	if v[0] >= 0x80 {
		return nil, nil, false // negative
	}
	if v[0] == 0 && len(v) > 1 {
		v = v[1:]
	}
	return v, rest, len(v) <= 32
}
