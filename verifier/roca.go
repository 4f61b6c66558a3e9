package verifier

import (
	"math/big"
	"sync"
)

// rocaPrimes are the small primes of the ROCA fingerprint test (Nemec et
// al., "The Return of Coppersmith's Attack", CCS 2017, CVE-2017-15361).
var rocaPrimes = [...]int64{3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71,
	73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167}

// roca.markers[i] has bit r set for each r in the subgroup that 65537
// generates modulo rocaPrimes[i] (a set of residues below 168). They are
// computed at the first RSA key, not at every program's start: most
// verifiers have no RSA key.
var roca struct {
	once    sync.Once
	markers [len(rocaPrimes)]residues
}

// rocaMarkers returns roca.markers, computing them on its first call.
func rocaMarkers() *[len(rocaPrimes)]residues {
	roca.once.Do(func() {
		for i, p := range rocaPrimes {
			m := &roca.markers[i]
			g := 65537 % p
			for r := int64(1); !m.has(r); r = r * g % p {
				m[r/64] |= 1 << (r % 64)
			}
		}
	})
	return &roca.markers
}

// residues is a set of integers below 192.
type residues [3]uint64

func (s *residues) has(r int64) bool { return s[r/64]&(1<<(r%64)) != 0 }

// rocaWeak reports whether n has the ROCA fingerprint: the primes of
// Infineon's flawed RSA key generation (in many TPMs and smart cards of
// 2012–2017) are k·M + (65537^a mod M), so n is a power of 65537 modulo
// every small prime of M; such a key can be factored. A random modulus
// passes this test with negligible probability.
func rocaWeak(n *big.Int) bool {
	var p, r big.Int
	markers := rocaMarkers()
	for i, prime := range rocaPrimes {
		r.Mod(n, p.SetInt64(prime))
		if !markers[i].has(r.Int64()) {
			return false
		}
	}
	return true
}
