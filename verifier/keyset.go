package verifier

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"slices"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/jsonx"
	"github.com/writ-dev/writ/internal/paserk"
)

// The algorithms a verifier can accept. The first four are JWS algorithms
// (RFC 7518, RFC 8037); V4Public is PASETO v4.public.
const (
	EdDSA    = "EdDSA"
	ES256    = "ES256"
	RS256    = "RS256"
	PS256    = "PS256"
	V4Public = "v4.public"
)

// Limits on what a key set may hold.
const (
	MaxKeyID      = 128     // bytes in a kid
	MaxKeySetSize = 1 << 20 // bytes in an encoded key set
	MaxKeys       = 256     // keys in one set
	minRSABits    = 2048
	maxRSABits    = 8192
)

// Key is one public verification key, bound to the single algorithm it
// verifies.
type Key struct {
	id  string
	alg string
	pub crypto.PublicKey
}

// NewKey binds pub to the key id and algorithm alg, after checking that they
// fit: an ed25519.PublicKey for EdDSA and V4Public, a P-256 *ecdsa.PublicKey
// for ES256, an *rsa.PublicKey of 2048 to 8192 bits for RS256 and PS256
// (not one of the weak keys that ROCA factors). A V4Public key's id must be
// its PASERK k4.pid.
func NewKey(id, alg string, pub crypto.PublicKey) (*Key, error) {
	if id == "" || len(id) > MaxKeyID {
		return nil, fmt.Errorf("%w: key id must have 1 to %d bytes", ErrKeySet, MaxKeyID)
	}
	switch alg {
	case EdDSA, V4Public:
		k, ok := pub.(ed25519.PublicKey)
		if !ok || len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: key %q: %s needs an Ed25519 public key", ErrKeySet, id, alg)
		}
		if alg == V4Public && id != paserk.ID(k) {
			return nil, fmt.Errorf("%w: key %q is not the k4.pid of its key", ErrKeySet, id)
		}
	case ES256:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok || k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: key %q: ES256 needs a P-256 public key", ErrKeySet, id)
		}
	case RS256, PS256:
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%w: key %q: %s needs an RSA public key", ErrKeySet, id, alg)
		}
		if bits := k.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return nil, fmt.Errorf("%w: key %q: RSA modulus of %d bits, want %d to %d", ErrKeySet, id, bits, minRSABits, maxRSABits)
		}
		if rocaWeak(k.N) {
			return nil, fmt.Errorf("%w: key %q: RSA modulus with the ROCA fingerprint (CVE-2017-15361): it can be factored", ErrKeySet, id)
		}
	default:
		return nil, fmt.Errorf("%w: key %q: unsupported algorithm %q", ErrKeySet, id, alg)
	}
	return &Key{id: id, alg: alg, pub: pub}, nil
}

// ID returns the key's id: the kid of JWS tokens or the k4.pid of PASETO ones.
func (k *Key) ID() string { return k.id }

// Algorithm returns the one algorithm the key verifies.
func (k *Key) Algorithm() string { return k.alg }

// Public returns the public key.
func (k *Key) Public() crypto.PublicKey { return k.pub }

// KeySource finds verification keys by id. Implementations must be safe for
// concurrent use.
type KeySource interface {
	// LookupKey returns the key whose id is kid. When the source does not
	// hold such a key it returns an error wrapping ErrUnknownKey; any other
	// error means the source itself failed.
	LookupKey(ctx context.Context, kid string) (*Key, error)
}

// KeySet is an immutable set of keys. It is a KeySource.
type KeySet struct {
	keys map[string]*Key
}

var _ KeySource = (*KeySet)(nil)

// NewKeySet returns a set of keys. Two keys with one id are an error.
func NewKeySet(keys ...*Key) (*KeySet, error) {
	s := &KeySet{keys: make(map[string]*Key, len(keys))}
	for _, k := range keys {
		if _, dup := s.keys[k.id]; dup {
			return nil, fmt.Errorf("%w: key id %q appears twice", ErrKeySet, k.id)
		}
		s.keys[k.id] = k
	}
	return s, nil
}

// MergeKeySets returns one set holding the keys of every set, typically a
// JWKS and a PASERK set. An id present in two sets is an error.
func MergeKeySets(sets ...*KeySet) (*KeySet, error) {
	var all []*Key
	for _, s := range sets {
		all = append(all, s.Keys()...)
	}
	return NewKeySet(all...)
}

// LookupKey implements KeySource.
func (s *KeySet) LookupKey(_ context.Context, kid string) (*Key, error) {
	if k, ok := s.keys[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, kid)
}

// Keys returns the set's keys ordered by id.
func (s *KeySet) Keys() []*Key {
	keys := make([]*Key, 0, len(s.keys))
	for _, k := range s.keys {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b *Key) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	return keys
}

// Len returns the number of keys in the set.
func (s *KeySet) Len() int { return len(s.keys) }

// ReadJWKSFile reads a JWKS from a file; see ParseJWKS.
func ReadJWKSFile(path string) (*KeySet, error) {
	data, err := readKeySetFile(path)
	if err != nil {
		return nil, err
	}
	return ParseJWKS(data)
}

// ReadPASERKFile reads a PASERK set from a file; see ParsePASERKSet.
func ReadPASERKFile(path string) (*KeySet, error) {
	data, err := readKeySetFile(path)
	if err != nil {
		return nil, err
	}
	return ParsePASERKSet(data)
}

func readKeySetFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeySet, err)
	}
	defer f.Close()
	// Read one byte past the limit so that parseSet can tell the set is too large.
	data, err := io.ReadAll(io.LimitReader(f, MaxKeySetSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read %q: %w", ErrKeySet, path, err)
	}
	return data, nil
}

// ParseJWKS reads a JSON Web Key Set (RFC 7517 §5) of public keys.
//
// Each usable key is an OKP Ed25519, EC P-256 or RSA public key with a kid
// and an alg among EdDSA, ES256, RS256 and PS256 that fits it. A key without
// alg is bound to EdDSA (Ed25519) or ES256 (P-256); an RSA key without alg is
// skipped, as RS256 and PS256 would both fit it. Keys of other types, curves
// or algorithms, and keys whose use or key_ops exclude verification, are
// skipped, as RFC 7517 asks. A set holding private or secret key material,
// a malformed member of a usable key, a duplicate kid, or no usable key at
// all is an error wrapping ErrKeySet.
func ParseJWKS(data []byte) (*KeySet, error) {
	var keys []*Key
	err := parseSet(data, func(member []byte) error {
		k, err := parseJWK(member)
		if k != nil {
			keys = append(keys, k)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return newParsedSet(keys)
}

// ParsePASERKSet reads a set of PASETO v4 public keys in writ's format:
// {"keys":[{"kid":"k4.pid.…","paserk":"k4.public.…"}]}. Every kid must be
// the k4.pid of its key.
func ParsePASERKSet(data []byte) (*KeySet, error) {
	var keys []*Key
	err := parseSet(data, func(member []byte) error {
		var kid, pk string
		err := jsonx.Members(member, func(name []byte, v jsonx.Value) error {
			var err error
			switch string(name) {
			case "kid":
				kid, err = v.Str()
			case "paserk":
				pk, err = v.Str()
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("%w: %w", ErrKeySet, err)
		}
		pub, err := paserk.ParsePublic(pk)
		if err != nil {
			return fmt.Errorf("%w: key %q: %w", ErrKeySet, kid, err)
		}
		k, err := NewKey(kid, V4Public, pub)
		if err != nil {
			return err
		}
		keys = append(keys, k)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return newParsedSet(keys)
}

// parseSet walks the members of {"keys":[…]}, calling fn with each element.
func parseSet(data []byte, fn func(member []byte) error) error {
	if len(data) > MaxKeySetSize {
		return fmt.Errorf("%w: larger than %d bytes", ErrKeySet, MaxKeySetSize)
	}
	found := false
	err := jsonx.Members(data, func(name []byte, v jsonx.Value) error {
		if string(name) != "keys" {
			return nil
		}
		found = true
		n := 0
		return v.Elements(func(e jsonx.Value) error {
			if n++; n > MaxKeys {
				return fmt.Errorf("%w: more than %d keys", ErrKeySet, MaxKeys)
			}
			if e.Kind != jsonx.Object {
				return fmt.Errorf("%w: a key is not a JSON object", ErrKeySet)
			}
			return fn(e.Raw())
		})
	})
	if err != nil {
		if errors.Is(err, ErrKeySet) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrKeySet, err)
	}
	if !found {
		return fmt.Errorf(`%w: no "keys" member`, ErrKeySet)
	}
	return nil
}

func newParsedSet(keys []*Key) (*KeySet, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no usable key", ErrKeySet)
	}
	return NewKeySet(keys...)
}

// privateMembers are JWK members that carry private or secret key material
// (RFC 7518 §6.2.2, §6.3.2, §6.4.1, RFC 8037 §2).
var privateMembers = [...]string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// parseJWK reads one JWK. It returns nil and no error for a key to skip.
func parseJWK(data []byte) (*Key, error) {
	f := map[string]string{}
	var keyOps []string
	hasKeyOps := false
	err := jsonx.Members(data, func(name []byte, v jsonx.Value) error {
		n := string(name)
		for _, p := range privateMembers {
			if n == p {
				return fmt.Errorf("%w: the set holds private key material (member %q)", ErrKeySet, n)
			}
		}
		switch n {
		case "kty", "kid", "alg", "use", "crv", "x", "y", "n", "e":
			s, err := v.Str()
			if err != nil {
				return fmt.Errorf("%w: member %q: want a string", ErrKeySet, n)
			}
			f[n] = s
		case "key_ops":
			hasKeyOps = true
			return v.Elements(func(e jsonx.Value) error {
				s, err := e.Str()
				keyOps = append(keyOps, s)
				return err
			})
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrKeySet) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrKeySet, err)
	}
	if use, ok := f["use"]; ok && use != "sig" {
		return nil, nil
	}
	if hasKeyOps && !slices.Contains(keyOps, "verify") {
		return nil, nil
	}
	kid, alg := f["kid"], f["alg"]
	var pub crypto.PublicKey
	switch f["kty"] {
	case "OKP":
		if f["crv"] != "Ed25519" || (alg != "" && alg != EdDSA) {
			return nil, nil
		}
		alg = EdDSA
		x, err := b64Member(f, "x", ed25519.PublicKeySize)
		if err != nil {
			return nil, keyErr(kid, err)
		}
		pub = ed25519.PublicKey(x)
	case "EC":
		if f["crv"] != "P-256" || (alg != "" && alg != ES256) {
			return nil, nil
		}
		alg = ES256
		x, err := b64Member(f, "x", 32)
		if err != nil {
			return nil, keyErr(kid, err)
		}
		y, err := b64Member(f, "y", 32)
		if err != nil {
			return nil, keyErr(kid, err)
		}
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, keyErr(kid, errors.New("point not on P-256"))
		}
		pub = k
	case "RSA":
		if alg != RS256 && alg != PS256 {
			return nil, nil
		}
		n, err := b64Member(f, "n", 0)
		if err != nil {
			return nil, keyErr(kid, err)
		}
		e, err := b64Member(f, "e", 0)
		if err != nil {
			return nil, keyErr(kid, err)
		}
		if len(n) == 0 || n[0] == 0 || len(n) > maxRSABits/8 {
			return nil, keyErr(kid, errors.New(`bad modulus "n"`))
		}
		if len(e) == 0 || e[0] == 0 || len(e) > 4 {
			return nil, keyErr(kid, errors.New(`bad exponent "e"`))
		}
		exp := new(big.Int).SetBytes(e).Int64()
		if exp < 3 || exp%2 == 0 || exp > 1<<31-1 {
			return nil, keyErr(kid, errors.New(`bad exponent "e"`))
		}
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp)}
	default:
		return nil, nil
	}
	if kid == "" {
		return nil, fmt.Errorf(`%w: a %s key has no "kid"`, ErrKeySet, alg)
	}
	return NewKey(kid, alg, pub)
}

func keyErr(kid string, err error) error {
	return fmt.Errorf("%w: key %q: %w", ErrKeySet, kid, err)
}

// b64Member decodes a base64url member, which must decode to size bytes
// when size is not zero.
func b64Member(f map[string]string, name string, size int) ([]byte, error) {
	s, ok := f[name]
	if !ok {
		return nil, fmt.Errorf("no %q", name)
	}
	b, err := b64.Decode(s)
	if err != nil {
		return nil, fmt.Errorf("member %q: %w", name, err)
	}
	if size != 0 && len(b) != size {
		return nil, fmt.Errorf("member %q: %d bytes, want %d", name, len(b), size)
	}
	return b, nil
}
