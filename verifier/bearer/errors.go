package bearer

import (
	"errors"
	"fmt"
)

// The malformed requests that Token refuses and the middleware answers
// 400 invalid_request (RFC 6750 §3.1), the error's text as its
// error_description.
var (
	// ErrEmptyToken: an Authorization header with the Bearer scheme and
	// no token.
	ErrEmptyToken = errors.New("empty bearer token")
	// ErrSeveralHeaders: more than one Authorization header.
	ErrSeveralHeaders = errors.New("more than one Authorization header")
	// ErrSeveralTokens: a token in the Authorization header and in the
	// query, or more than one in the query (Config.AllowQueryToken).
	ErrSeveralTokens = errors.New("more than one token in the request")
)

// ErrForwarded: a trusted proxy (Config.TrustedProxies) sent a Forwarded or
// X-Forwarded-For header that does not parse, or both headers naming
// different clients. ClientAddr returns it wrapped, and the middleware
// answers 400 invalid_request: the client address, which a token bound to
// networks needs, cannot be told.
var ErrForwarded = errors.New("malformed or conflicting forwarding headers from a trusted proxy")

var (
	errMalformedForwarded = fmt.Errorf("%w: Forwarded does not parse", ErrForwarded)
	errMalformedXFF       = fmt.Errorf("%w: X-Forwarded-For does not parse", ErrForwarded)
	errConflict           = fmt.Errorf("%w: Forwarded and X-Forwarded-For name different clients", ErrForwarded)
)
