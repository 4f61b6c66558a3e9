package revocation

import (
	"context"
	"crypto/sha256"
	"time"

	"github.com/writ-dev/writ/internal/b64"
)

// TokenID is the 16-byte form of a jti that revocation data carries: the
// 128 random bits of writ's own jtis (22 base64url characters), or the first
// 16 bytes of the SHA-256 of any other jti.
type TokenID [16]byte

// TokenIDOf returns the TokenID of jti. It does not allocate.
func TokenIDOf(jti string) TokenID {
	if len(jti) == 22 {
		var id TokenID
		if n, err := b64.DecodeInto(id[:], jti); err == nil && n == 16 {
			return id
		}
	}
	h := sha256.Sum256([]byte(jti))
	return TokenID(h[:16])
}

// RevokedToken is a revoked jti. Times are unix seconds.
type RevokedToken struct {
	ID TokenID
	// EffectiveAt is the revocation's time, or later after a grace period,
	// which ends by ExpiresAt. Both times are held in 32 bits: one after
	// 2106-02-07 reads as that time (see effective32 and time32).
	EffectiveAt int64
	ExpiresAt   int64 // the token's own expiry
}

// SubjectCutoff revokes every token of Subject issued before IssuedBefore.
type SubjectCutoff struct {
	Subject      string
	IssuedBefore int64
	ExpiresAt    int64
}

// RevokedKey revokes every token signed by the key KID.
type RevokedKey struct {
	KID       string
	ExpiresAt int64
}

// Batch is a set of changes to the revocation list: everything in force
// when read from sequence 0, or the changes after a sequence number.
type Batch struct {
	Seq int64 // the sequence number the batch brings its reader to
	// Epoch names the list's history: sequence numbers of two epochs are
	// unrelated (a database restored from a backup), so a reader that sees
	// a new epoch reads the whole list again.
	Epoch string
	// AsOf is when the batch was current, for a feed that can be replayed
	// (the time the server signed it); zero means when it was read.
	AsOf     time.Time
	Tokens   []RevokedToken
	Subjects []SubjectCutoff
	Keys     []RevokedKey
}

// Feed supplies revocation changes by sequence number. *List is the Feed of
// a local database; the server's signed revocation feed is another.
type Feed interface {
	// Changes returns the unexpired changes with a sequence number above
	// since, or an error wrapping ErrAhead if since is beyond the list's
	// sequence. An error leaves the reader's state as it was.
	Changes(ctx context.Context, since int64) (*Batch, error)
}

var _ Feed = (*List)(nil)
