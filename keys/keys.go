// Package keys makes writ's signing keys and keeps them in the keyring.
//
// A [Key] is a private signing key bound to one algorithm and identified by
// its kid: the RFC 7638 JWK thumbprint for JOSE keys, the PASERK k4.pid for
// PASETO keys. [Generate] makes one.
//
// The [Ring] keeps keys in writ's database with their lifecycle state
// (next, active, retired, compromised) and their private halves sealed with
// AES-256-GCM under a [MasterKey]; each key row is bound to the master key
// (see binding.go), so that storage holds the rows and the keyring decides
// which to trust. [Ring.Compromise] withdraws a key and revokes its tokens
// in one transaction. It publishes the public halves as a JWKS
// and a PASERK set, and as a [verifier.KeySet] for verifying next to the
// database. [Ring.RotateMasterKey] seals every private half under a new
// master key while processes given the old one keep working, and
// [Ring.FinishMasterKeyRotation] ends the change (see
// masterkeyrotation.go).
package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"strings"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/paserk"
	"github.com/writ-dev/writ/verifier"
)

// Format is a token format. No key serves two formats.
type Format string

// The token formats.
const (
	JWT    Format = "jwt"
	PASETO Format = "paseto"
)

// ParseFormat reads "jwt" or "paseto".
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case JWT, PASETO:
		return f, nil
	}
	return "", fmt.Errorf("unknown token format %q (want jwt or paseto)", s)
}

// FormatOf returns the format that alg signs.
func FormatOf(alg verifier.Algorithm) Format {
	if alg == verifier.V4Public {
		return PASETO
	}
	return JWT
}

// RSABits is the modulus size of generated RSA keys.
const RSABits = 2048

// Key is a private signing key bound to one algorithm.
type Key struct {
	id     string
	alg    verifier.Algorithm
	signer crypto.Signer
}

// Generate makes a fresh key for alg: EdDSA, ES256, RS256, PS256 (the JWS
// algorithms) or v4.public (PASETO).
func Generate(alg verifier.Algorithm) (*Key, error) {
	for {
		var s crypto.Signer
		var err error
		switch alg {
		case verifier.EdDSA, verifier.V4Public:
			_, s, err = ed25519.GenerateKey(rand.Reader)
		case verifier.ES256:
			s, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		case verifier.RS256, verifier.PS256:
			s, err = rsa.GenerateKey(rand.Reader, RSABits)
		default:
			return nil, fmt.Errorf("unsupported algorithm %q (want EdDSA, ES256, RS256, PS256 or v4.public)", alg)
		}
		if err != nil {
			return nil, fmt.Errorf("generate %s key: %w", alg, err)
		}
		k, err := NewKey(alg, s)
		// A kid starting with '-' reads as a flag on the command line
		// (writ keys compromise -B6k…): one key in 64 is drawn again,
		// as jtis are.
		if err != nil || !strings.HasPrefix(k.id, "-") {
			return k, err
		}
	}
}

// NewKey binds an existing private key to alg and computes its kid.
func NewKey(alg verifier.Algorithm, s crypto.Signer) (*Key, error) {
	id, err := KeyID(alg, s.Public())
	if err != nil {
		return nil, err
	}
	// verifier.NewKey checks that the key type, curve and size fit alg.
	if _, err := verifier.NewKey(id, alg, s.Public()); err != nil {
		return nil, err
	}
	return &Key{id: id, alg: alg, signer: s}, nil
}

// KeyID returns the kid of a public key used with alg: its PASERK k4.pid for
// v4.public, its RFC 7638 SHA-256 JWK thumbprint otherwise.
func KeyID(alg verifier.Algorithm, pub crypto.PublicKey) (string, error) {
	if alg == verifier.V4Public {
		k, ok := pub.(ed25519.PublicKey)
		if !ok {
			return "", fmt.Errorf("v4.public needs an Ed25519 key, not %T", pub)
		}
		if len(k) != ed25519.PublicKeySize {
			// PASERK: a key of the wrong size must fail to serialise.
			return "", fmt.Errorf("v4.public needs a %d-byte Ed25519 key, not %d bytes", ed25519.PublicKeySize, len(k))
		}
		return paserk.ID(k), nil
	}
	j, err := jwk.Import(pub)
	if err != nil {
		return "", fmt.Errorf("key id: %w", err)
	}
	tp, err := j.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("key id: %w", err)
	}
	return b64.Encode(tp), nil
}

// ID returns the key's kid.
func (k *Key) ID() string { return k.id }

// Algorithm returns the one algorithm the key signs with.
func (k *Key) Algorithm() verifier.Algorithm { return k.alg }

// Format returns the token format the key signs.
func (k *Key) Format() Format { return FormatOf(k.alg) }

// Signer returns the private key.
func (k *Key) Signer() crypto.Signer { return k.signer }

// Public returns the public key.
func (k *Key) Public() crypto.PublicKey { return k.signer.Public() }

// String names the key without revealing anything secret.
func (k *Key) String() string { return string(k.alg) + " key " + k.id }
