package session

import "errors"

var (
	// ErrNoSession: the session id is malformed, unknown, or its session
	// ended (expired, idle for Config.Idle, or signed out).
	ErrNoSession = errors.New("no such session")
	// ErrNoLink: the sign-in link's code is malformed, unknown, used
	// already, or expired.
	ErrNoLink = errors.New("unknown, used or expired sign-in link")
	// ErrNothingHeld: the session holds no secret under the name asked
	// for: taken already, or never held.
	ErrNothingHeld = errors.New("nothing held")
)
