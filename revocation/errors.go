package revocation

import (
	"errors"

	"github.com/writ-dev/writ/verifier/revoked"
)

var (
	// ErrUnknownToken: no token with that jti was issued from this
	// database. issuer.ErrUnknownToken is the same error.
	ErrUnknownToken = errors.New("unknown token")
	// ErrUnknownSubject: no token was ever issued to that subject.
	ErrUnknownSubject = errors.New("unknown subject")
	// ErrUnknownKey: the keyring holds no key with that kid.
	// keys.ErrUnknownKey is the same error.
	ErrUnknownKey = errors.New("unknown key")
	// ErrInvalid: a malformed jti, subject, kid or option.
	ErrInvalid = errors.New("invalid revocation")
	// ErrGraceBeyondExpiry: a grace period that would end after the token
	// expires. It comes wrapped with ErrInvalid.
	ErrGraceBeyondExpiry = errors.New("grace period ends after the token expires")
	// ErrAhead is returned by Changes for a sequence number beyond the
	// list's: it is revoked.ErrAhead, which a snapshot reading the list
	// handles by reading the whole list again.
	ErrAhead = revoked.ErrAhead
)
