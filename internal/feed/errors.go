package feed

import "errors"

// Decode returns an error wrapping one of these.
var (
	// ErrMalformed: the payload is not a revocation feed's: not strict JSON,
	// a member missing or of the wrong type, an entry of the wrong shape, a
	// number that is not an integer of 64 bits, a token id that is not 22
	// base64url characters.
	ErrMalformed = errors.New("malformed revocation feed")
	// ErrTooLarge: the payload is larger than MaxSize. It was not read.
	ErrTooLarge = errors.New("revocation feed too large")
)
