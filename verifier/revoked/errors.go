package revoked

import "errors"

var (
	// ErrAhead: a Feed was asked for the changes after a sequence number
	// beyond its list's: the list is not the one the reader followed (a
	// database restored from a backup). A Snapshot then reads the whole
	// list again. Its text is the one writ serve sends in its 409 answer.
	ErrAhead = errors.New("revocation: the reader is ahead of the list")
	// ErrStale: a Snapshot told to fail closed (SnapshotConfig.MaxStaleness)
	// has not refreshed within its bound. Verify fails with it rather than
	// with verifier.ErrRevoked: the token may be valid.
	ErrStale = errors.New("revocation data too stale")
)
