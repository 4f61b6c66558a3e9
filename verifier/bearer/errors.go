package bearer

import "errors"

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
