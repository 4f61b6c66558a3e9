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
	"strconv"
	"strings"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/eddsa"
	"github.com/writ-dev/writ/internal/jsonx"
	"github.com/writ-dev/writ/internal/p256"
	"github.com/writ-dev/writ/internal/paserk"
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
	alg Algorithm
	pub crypto.PublicKey
	// verify is pub in the form jws.Verify takes: an Ed25519 key as an
	// *eddsa.PublicKey and a P-256 key as a *p256.PublicKey, prepared for
	// verifying, any other as pub.
	verify crypto.PublicKey
}

// newKey returns the key of id, alg and pub, which checkKey accepted.
// Ed25519 and P-256 keys are prepared once for all their verifications:
// the point is decoded here, and a table of its multiples (30 KiB for
// Ed25519, 78 KiB for P-256) is built once the key has verified a few
// tokens (see internal/eddsa and internal/p256). An Ed25519 key whose
// bytes decode to no point is kept, and verifies no token, as
// ed25519.Verify rejects every signature under it.
func newKey(id string, alg Algorithm, pub crypto.PublicKey) *Key {
	k := &Key{id: id, alg: alg, pub: pub, verify: pub}
	// checkKey checked what these refuse: an Ed25519 key's length, a
	// P-256 key's point.
	switch pub := pub.(type) {
	case ed25519.PublicKey:
		if ed, err := eddsa.NewPublicKey(pub); err == nil {
			k.verify = ed
		}
	case *ecdsa.PublicKey:
		if ec, err := p256.NewPublicKeyECDSA(pub); err == nil {
			k.verify = ec
		}
	}
	return k
}

// NewKey binds pub to the key id and algorithm alg, after checking that they
// fit: an ed25519.PublicKey for EdDSA and V4Public, a P-256 *ecdsa.PublicKey
// whose point is on the curve for ES256, an *rsa.PublicKey of 2048 to 8192
// bits for RS256 and PS256 (not one of the weak keys that ROCA factors). A
// V4Public key's id must be its PASERK k4.pid. Its errors wrap ErrKeySet
// and the reason: ErrKeyUnsupported, ErrKeyMalformed or ErrKeyWeak.
func NewKey(id string, alg Algorithm, pub crypto.PublicKey) (*Key, error) {
	if err := checkKey(id, alg, pub); err != nil {
		return nil, fmt.Errorf("%w: key %s: %w", ErrKeySet, quoted(id), err)
	}
	return newKey(id, alg, pub), nil
}

// checkKey says why pub cannot be a key of id and alg, with an error
// wrapping ErrKeyUnsupported, ErrKeyMalformed or ErrKeyWeak; nil if it can.
func checkKey(id string, alg Algorithm, pub crypto.PublicKey) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: no key id", ErrKeyMalformed)
	case len(id) > MaxKeyID:
		return fmt.Errorf("%w: key id of %d bytes, more than %d", ErrKeyUnsupported, len(id), MaxKeyID)
	}
	switch alg {
	case EdDSA, V4Public:
		k, ok := pub.(ed25519.PublicKey)
		if !ok || len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: %s needs an Ed25519 public key", ErrKeyMalformed, alg)
		}
		if alg == V4Public && id != paserk.ID(k) {
			return fmt.Errorf("%w: the key id is not the k4.pid of the key", ErrKeyMalformed)
		}
	case ES256:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok || k == nil || k.Curve != elliptic.P256() {
			return fmt.Errorf("%w: ES256 needs a P-256 public key", ErrKeyMalformed)
		}
		if _, err := p256.NewPublicKeyECDSA(k); err != nil {
			return fmt.Errorf("%w: ES256 needs a point of the P-256 curve", ErrKeyMalformed)
		}
	case RS256, PS256:
		k, ok := pub.(*rsa.PublicKey)
		if !ok || k == nil || k.N == nil {
			return fmt.Errorf("%w: %s needs an RSA public key", ErrKeyMalformed, alg)
		}
		switch bits := k.N.BitLen(); {
		case bits < minRSABits:
			return fmt.Errorf("%w: RSA modulus of %d bits, fewer than %d", ErrKeyWeak, bits, minRSABits)
		case bits > maxRSABits:
			return fmt.Errorf("%w: RSA modulus of %d bits, more than %d", ErrKeyUnsupported, bits, maxRSABits)
		}
		if rocaWeak(k.N) {
			return fmt.Errorf("%w: RSA modulus with the ROCA fingerprint (CVE-2017-15361): it can be factored", ErrKeyWeak)
		}
	default:
		return fmt.Errorf("%w: algorithm %s", ErrKeyUnsupported, quoted(string(alg)))
	}
	return nil
}

// ID returns the key's id: the kid of JWS tokens or the k4.pid of PASETO ones.
func (k *Key) ID() string { return k.id }

// Algorithm returns the one algorithm the key verifies.
func (k *Key) Algorithm() Algorithm { return k.alg }

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
	keys    map[string]*Key
	ignored []IgnoredKey
}

var _ KeySource = (*KeySet)(nil)

// IgnoredKey is a key of a parsed set that the verifier cannot use, and
// why. A token naming it fails with ErrUnknownKey, as if the set did not
// hold it.
type IgnoredKey struct {
	// Index is the key's position in the set's "keys" array, from 0.
	Index int
	// ID is the key's kid, or "" when it has none of 1 to MaxKeyID bytes.
	ID string
	// Reason wraps ErrKeyUnsupported, ErrKeyMalformed or ErrKeyWeak. Its
	// message is one line and quotes no more than the start of each value.
	Reason error
}

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

// Ignored returns the keys that ParseJWKS or ParsePASERKSet left out of the
// set because the verifier cannot use them, in the order of the set; none
// for a set built by NewKeySet or MergeKeySets. Nothing ignored ever
// verifies a token, but a publisher whose keys are ignored is misconfigured
// or under attack (a weak or malformed key), so callers should say so: writ
// verify prints each one as a warning.
func (s *KeySet) Ignored() []IgnoredKey { return slices.Clone(s.ignored) }

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
// alg is bound to EdDSA (Ed25519) or ES256 (P-256); an RSA key needs an alg,
// as RS256 and PS256 would both fit it.
//
// As RFC 7517 §5 asks, a key that the verifier cannot use is ignored and
// reported by [KeySet.Ignored]: one of another type, curve or algorithm,
// whose use or key_ops exclude verification, with no kid, with a member
// missing, of the wrong type or badly encoded, an EC point off its curve,
// or a weak or oversized RSA modulus. Such a key never verifies a token,
// and a set of only such keys is refused, listing the first reasons.
//
// The whole set is refused with an error wrapping ErrKeySet when it is not
// strict JSON (a member named twice, in the set or in a key, included),
// larger than MaxKeySetSize or holding more than MaxKeys keys (usable or
// not), when any key carries private or secret key material (d, p, q, dp,
// dq, qi, oth, k: the publisher is leaking secrets), or when two usable
// keys share a kid (a token's kid must name one key).
func ParseJWKS(data []byte) (*KeySet, error) {
	return parseSet(data, parseJWK)
}

// ParsePASERKSet reads a set of PASETO v4 public keys in writ's format:
// {"keys":[{"kid":"k4.pid.…","paserk":"k4.public.…"}]}. Every kid must be
// the k4.pid of its key.
//
// It follows ParseJWKS's rules: an entry the verifier cannot use (another
// PASERK version or type, such as k3.public or a k4.pid; a kid that is not
// the key's k4.pid; a member missing, not a string or badly encoded) is
// ignored and reported by [KeySet.Ignored]; a set of only such entries is
// refused. A PASERK that holds a secret or symmetric key, bare or wrapped
// (local, secret, local-wrap, secret-wrap, local-pw, secret-pw, seal, of
// any version), refuses the whole set.
func ParsePASERKSet(data []byte) (*KeySet, error) {
	return parseSet(data, parsePASERK)
}

// keyParser reads one element of a set's "keys" array: the key, or the
// key to ignore (its ID and Reason), or an error wrapping ErrKeySet that
// refuses the whole set.
type keyParser func(member []byte) (*Key, *IgnoredKey, error)

// parseSet reads {"keys":[…]} with parse.
func parseSet(data []byte, parse keyParser) (*KeySet, error) {
	if len(data) > MaxKeySetSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrKeySet, MaxKeySetSize)
	}
	found := false
	var keys []*Key
	var ignored []IgnoredKey
	err := jsonx.Members(data, func(name []byte, v jsonx.Value) error {
		if string(name) != "keys" {
			return nil
		}
		found = true
		i := 0
		return v.Elements(func(e jsonx.Value) error {
			if i == MaxKeys {
				return fmt.Errorf("%w: more than %d keys", ErrKeySet, MaxKeys)
			}
			if e.Kind != jsonx.Object {
				return fmt.Errorf("%w: a key is not a JSON object", ErrKeySet)
			}
			k, ign, err := parse(e.Raw())
			switch {
			case err != nil:
				return err
			case ign != nil:
				ign.Index = i
				ignored = append(ignored, *ign)
			default:
				keys = append(keys, k)
			}
			i++
			return nil
		})
	})
	if err != nil {
		if errors.Is(err, ErrKeySet) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrKeySet, err)
	}
	if !found {
		return nil, fmt.Errorf(`%w: no "keys" member`, ErrKeySet)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no usable key%s", ErrKeySet, ignoredSummary(ignored))
	}
	s, err := NewKeySet(keys...)
	if err != nil {
		return nil, err
	}
	s.ignored = ignored
	return s, nil
}

// ignoredSummary describes the first ignored keys, for the error of a set
// that has no usable key.
func ignoredSummary(ignored []IgnoredKey) string {
	const shown = 3
	var b strings.Builder
	for i, k := range ignored {
		if i == shown {
			fmt.Fprintf(&b, "; and %d more", len(ignored)-shown)
			break
		}
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(&b, "%s%s", sep, k)
	}
	return b.String()
}

// String names the ignored key by index and kid, and says why it was
// ignored, on one line: key 1 (kid "a"): key not supported: use "enc".
func (k IgnoredKey) String() string {
	if k.ID == "" {
		return fmt.Sprintf("key %d: %v", k.Index, k.Reason)
	}
	return fmt.Sprintf("key %d (kid %q): %v", k.Index, k.ID, k.Reason)
}

// privateMembers are JWK members that carry private or secret key material
// (RFC 7518 §6.2.2, §6.3.2, §6.4.1, RFC 8037 §2).
var privateMembers = [...]string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// parseJWK reads one JWK (a keyParser).
func parseJWK(data []byte) (*Key, *IgnoredKey, error) {
	f := map[string]string{}
	var keyOps []string
	hasKeyOps := false
	var bad error // the first member of the wrong JSON type
	err := jsonx.Members(data, func(name []byte, v jsonx.Value) error {
		n := string(name)
		if slices.Contains(privateMembers[:], n) {
			return fmt.Errorf("%w: the set holds private key material (member %q)", ErrKeySet, n)
		}
		switch n {
		case "kty", "kid", "alg", "use", "crv", "x", "y", "n", "e":
			switch s, err := v.Str(); {
			case err == nil:
				f[n] = s
			case bad == nil:
				bad = fmt.Errorf("%w: member %q is not a string", ErrKeyMalformed, n)
			}
		case "key_ops":
			hasKeyOps = true
			err := v.Elements(func(e jsonx.Value) error {
				s, err := e.Str()
				keyOps = append(keyOps, s)
				return err
			})
			if err != nil && bad == nil {
				bad = fmt.Errorf(`%w: member "key_ops" is not an array of strings`, ErrKeyMalformed)
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrKeySet) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("%w: %w", ErrKeySet, err)
	}
	kid := f["kid"]
	if bad == nil {
		var k *Key
		if k, bad = jwkKey(f, hasKeyOps, keyOps); bad == nil {
			return k, nil, nil
		}
	}
	if len(kid) > MaxKeyID {
		kid = ""
	}
	return nil, &IgnoredKey{ID: kid, Reason: bad}, nil
}

// jwkKey makes a key of a JWK's string members f and its key_ops, or says
// why it cannot (an error wrapping ErrKeyUnsupported, ErrKeyMalformed or
// ErrKeyWeak).
func jwkKey(f map[string]string, hasKeyOps bool, keyOps []string) (*Key, error) {
	if use, ok := f["use"]; ok && use != "sig" {
		return nil, fmt.Errorf("%w: use %s", ErrKeyUnsupported, quoted(use))
	}
	if hasKeyOps && !slices.Contains(keyOps, "verify") {
		return nil, fmt.Errorf(`%w: key_ops without "verify"`, ErrKeyUnsupported)
	}
	kty, ok := f["kty"]
	if !ok {
		return nil, fmt.Errorf(`%w: no "kty"`, ErrKeyMalformed)
	}
	alg := Algorithm(f["alg"]) // as the key says, checked below
	var pub crypto.PublicKey
	switch kty {
	case "OKP":
		if err := fits(f, "Ed25519", EdDSA); err != nil {
			return nil, err
		}
		alg = EdDSA
		x, err := b64Member(f, "x", ed25519.PublicKeySize)
		if err != nil {
			return nil, err
		}
		pub = ed25519.PublicKey(x)
	case "EC":
		if err := fits(f, "P-256", ES256); err != nil {
			return nil, err
		}
		alg = ES256
		x, err := b64Member(f, "x", 32)
		if err != nil {
			return nil, err
		}
		y, err := b64Member(f, "y", 32)
		if err != nil {
			return nil, err
		}
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("%w: point not on P-256", ErrKeyMalformed)
		}
		pub = k
	case "RSA":
		switch alg {
		case RS256, PS256:
		case "":
			return nil, fmt.Errorf(`%w: an RSA key without "alg" (RS256 and PS256 would both fit it)`, ErrKeyUnsupported)
		default:
			return nil, fmt.Errorf("%w: algorithm %s for an RSA key", ErrKeyUnsupported, quoted(string(alg)))
		}
		n, err := b64Member(f, "n", 0)
		if err != nil {
			return nil, err
		}
		e, err := b64Member(f, "e", 0)
		if err != nil {
			return nil, err
		}
		// Sizes first, so that no hostile modulus is ever made a big.Int.
		switch {
		case len(n) == 0 || n[0] == 0:
			return nil, fmt.Errorf(`%w: modulus "n" with leading zeros`, ErrKeyMalformed)
		case len(n) > maxRSABits/8:
			return nil, fmt.Errorf("%w: RSA modulus of more than %d bits", ErrKeyUnsupported, maxRSABits)
		}
		if len(e) == 0 || e[0] == 0 || len(e) > 4 {
			return nil, fmt.Errorf(`%w: bad exponent "e"`, ErrKeyMalformed)
		}
		exp := new(big.Int).SetBytes(e).Int64()
		if exp < 3 || exp%2 == 0 || exp > 1<<31-1 {
			return nil, fmt.Errorf(`%w: bad exponent "e"`, ErrKeyMalformed)
		}
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp)}
	default:
		return nil, fmt.Errorf("%w: key type %s", ErrKeyUnsupported, quoted(kty))
	}
	kid, ok := f["kid"]
	if !ok {
		return nil, fmt.Errorf(`%w: no "kid"`, ErrKeyMalformed)
	}
	if err := checkKey(kid, alg, pub); err != nil {
		return nil, err
	}
	return newKey(kid, alg, pub), nil
}

// fits checks that a JWK's crv is crv and its alg, if any, is alg.
func fits(f map[string]string, crv string, alg Algorithm) error {
	if c := f["crv"]; c != crv {
		return fmt.Errorf("%w: curve %s", ErrKeyUnsupported, quoted(c))
	}
	if a, ok := f["alg"]; ok && Algorithm(a) != alg {
		return fmt.Errorf("%w: algorithm %s for a %s key", ErrKeyUnsupported, quoted(a), crv)
	}
	return nil
}

// b64Member decodes a base64url member, which must decode to size bytes
// when size is not zero.
func b64Member(f map[string]string, name string, size int) ([]byte, error) {
	s, ok := f[name]
	if !ok {
		return nil, fmt.Errorf("%w: no %q", ErrKeyMalformed, name)
	}
	b, err := b64.Decode(s)
	if err != nil {
		return nil, fmt.Errorf("%w: member %q: %w", ErrKeyMalformed, name, err)
	}
	if size != 0 && len(b) != size {
		return nil, fmt.Errorf("%w: member %q: %d bytes, want %d", ErrKeyMalformed, name, len(b), size)
	}
	return b, nil
}

// parsePASERK reads one entry of a PASERK set (a keyParser), with
// paserk.ParseSetEntry.
func parsePASERK(data []byte) (*Key, *IgnoredKey, error) {
	m, err := paserk.ParseSetEntry(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrKeySet, err)
	}
	if paserk.IsSecret(m.PASERK) {
		return nil, nil, fmt.Errorf("%w: the set holds secret key material (a %s PASERK)", ErrKeySet, paserk.Type(m.PASERK))
	}
	var bad error // the first member of the wrong JSON type
	if m.NotString != "" {
		bad = fmt.Errorf("%w: member %q is not a string", ErrKeyMalformed, m.NotString)
	}
	kid := m.KID
	if bad == nil {
		var k *Key
		if k, bad = paserkKey(&m); bad == nil {
			return k, nil, nil
		}
	}
	if len(kid) > MaxKeyID {
		kid = ""
	}
	return nil, &IgnoredKey{ID: kid, Reason: bad}, nil
}

// paserkKey makes a key of a PASERK set entry's members m, or says why it
// cannot, as jwkKey does.
func paserkKey(m *paserk.SetMembers) (*Key, error) {
	if !m.HasPASERK {
		return nil, fmt.Errorf(`%w: no "paserk"`, ErrKeyMalformed)
	}
	switch t := paserk.Type(m.PASERK); t {
	case "":
		return nil, fmt.Errorf("%w: not a PASERK", ErrKeyMalformed)
	case paserk.PublicType:
	default:
		return nil, fmt.Errorf("%w: PASERK type %s, want %s", ErrKeyUnsupported, quoted(t), paserk.PublicType)
	}
	pub, err := paserk.ParsePublic(m.PASERK)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyMalformed, err)
	}
	if !m.HasKID {
		return nil, fmt.Errorf(`%w: no "kid"`, ErrKeyMalformed)
	}
	if err := checkKey(m.KID, V4Public, pub); err != nil {
		return nil, err
	}
	return newKey(m.KID, V4Public, pub), nil
}

// quoted quotes a value read from a key set for a message, cut to its
// first 40 bytes: a set of a megabyte must not make a warning as long.
func quoted(s string) string {
	const limit = 40
	if len(s) > limit {
		return strconv.Quote(s[:limit]) + "…"
	}
	return strconv.Quote(s)
}
