package verifier

import "errors"

// Verify and VerifyDocument return an error that wraps exactly one of
// these categories (and, for ErrMalformed, often the cause as well), so
// callers switch with errors.Is. The messages name the reason without
// echoing the token.
var (
	// ErrTooLarge: the token is longer than MaxTokenSize. It was not decoded.
	ErrTooLarge = errors.New("token too large")
	// ErrMalformed: the token is not a well-formed compact JWS or v4.public
	// PASETO, its header or claims are not strict JSON, or a required claim
	// (iss, sub, aud, exp, iat, jti) or the kid is missing or has the wrong type.
	ErrMalformed = errors.New("malformed token")
	// ErrType: a JWT whose typ is not at+jwt (RFC 9068 §2.1), or a
	// document whose typ is not the one VerifyDocument was asked for.
	ErrType = errors.New("wrong token type")
	// ErrAlgorithm: the token's algorithm is not one the verifier accepts, or
	// differs from the algorithm its key was published with.
	ErrAlgorithm = errors.New("algorithm not accepted")
	// ErrUnknownKey: no key with the token's kid is in the key set.
	ErrUnknownKey = errors.New("unknown signing key")
	// ErrSignature: the signature does not verify under the token's key.
	ErrSignature = errors.New("invalid signature")
	// ErrExpired: the token's exp is past, beyond the leeway.
	ErrExpired = errors.New("token expired")
	// ErrNotYetValid: the token's nbf or iat lies in the future, beyond the leeway.
	ErrNotYetValid = errors.New("token not yet valid")
	// ErrIssuer: the token's iss is not the configured issuer.
	ErrIssuer = errors.New("wrong issuer")
	// ErrAudience: the token's aud does not name the configured audience.
	ErrAudience = errors.New("wrong audience")
	// ErrScope: the token lacks a scope that the caller requires. Verify never
	// returns it; Claims.RequireScopes and the middleware do.
	ErrScope = errors.New("insufficient scope")
	// ErrPermission: the token holds no permission (a scope
	// RESOURCE:ACTION) allowing what the caller requires. Verify never
	// returns it; Claims.RequirePermission and the bearer route guard do.
	ErrPermission = errors.New("insufficient permission")
	// ErrClientIP: the token is bound to networks (its allowed_ips claim)
	// and the client address is outside them, or was not given (Verify,
	// rather than VerifyFrom with an address).
	ErrClientIP = errors.New("client address not allowed")
	// ErrRevoked: the revocation checker says the token was revoked.
	ErrRevoked = errors.New("token revoked")
	// ErrKeySet: a key set (JWKS or PASERK set) could not be read.
	ErrKeySet = errors.New("invalid key set")
)

// Why a key cannot be used. ParseJWKS and ParsePASERKSet ignore such a key
// in a set (RFC 7517 §5) and KeySet.Ignored reports it with a reason that
// wraps one of these; NewKey's errors wrap ErrKeySet and one of these.
var (
	// ErrKeyUnsupported: the key is of a type, curve, algorithm or size that
	// this verifier does not implement, or its use or key_ops exclude
	// verifying signatures.
	ErrKeyUnsupported = errors.New("key not supported")
	// ErrKeyMalformed: a member the key needs is missing, not of its JSON
	// type or badly encoded, or the values do not make a key of its
	// algorithm (an EC point off its curve, an even RSA exponent, a kid
	// that is not the k4.pid of a PASETO key).
	ErrKeyMalformed = errors.New("malformed key")
	// ErrKeyWeak: an RSA key that can be factored: a modulus of fewer than
	// 2048 bits, or one with the ROCA fingerprint (CVE-2017-15361).
	ErrKeyWeak = errors.New("weak key")
)
