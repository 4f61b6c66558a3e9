// Package revoked is the verifier's side of revocation: a [Snapshot] holds
// a revocation list in memory and answers for every token a
// [verifier.Verifier] checks (it is a [verifier.RevocationChecker]), in a
// few tens of nanoseconds. It refreshes incrementally by sequence number
// from a [Feed]: revocation.List when writ's database is at hand, or
// remote.Feed (verifier/remote), which follows a writ server's signed
// revocation feed over HTTP. A feed that holds reads until its list
// changes ([WaitingFeed]: remote.Feed or remote.EdgeFeed with a wait) is
// read back to back, so that a revocation reaches the snapshot as soon as
// the server has it.
// It knows how stale it is and can be told to fail closed past a bound
// ([ErrStale]).
//
// A feed of snapshot files (remote.EdgeFeed) hands over most revoked tokens
// in a compact filter instead of one entry each (Batch.Filter): it answers
// exactly for every token the issuer recorded before the file's universe
// time, and the exact entries answer for the rest. See [Snapshot.Universe].
//
// It links no database and no net/http: a serverless function that checks
// revocations pays only for the feed it reads.
//
// # Entries
//
// A [Batch] carries the entries of a feed: revoked tokens by [TokenID]
// ([RevokedToken]), the tokens of a subject issued before a time
// ([SubjectCutoff]), and the tokens of a key ([RevokedKey]). They are the
// revocation feed's wire types, defined in writ's internal feed package,
// which writes and reads the feed; the names here are aliases of them.
package revoked

import (
	"context"
	"time"

	"github.com/writ-dev/writ/internal/feed"
)

// The entries of a revocation feed. See [Batch].
type (
	// TokenID is the 16-byte form of a jti that revocation data carries:
	// the 128 random bits of writ's own jtis (22 base64url characters), or
	// the first 16 bytes of the SHA-256 of any other jti.
	TokenID = feed.TokenID
	// RevokedToken is a revoked jti. Times are unix seconds: EffectiveAt is
	// the revocation's time, or later after a grace period, which ends by
	// ExpiresAt, the token's own expiry. Both are held in 32 bits: a time
	// after 2106-02-07 reads as that time.
	RevokedToken = feed.RevokedToken
	// SubjectCutoff revokes every token of Subject issued before
	// IssuedBefore (unix seconds).
	SubjectCutoff = feed.SubjectCutoff
	// RevokedKey revokes every token signed by the key KID.
	RevokedKey = feed.RevokedKey
	// Batch is a set of changes to a revocation list: everything in force
	// when read from sequence 0, or the changes after a sequence number.
	// Seq is the sequence number it brings its reader to; Epoch names the
	// list's history (a reader that sees a new one reads the whole list
	// again); AsOf is when the batch was current, for a feed that can be
	// replayed (the time the server signed it), zero meaning when it was
	// read.
	Batch = feed.Batch
)

// TokenIDOf returns the TokenID of jti. It does not allocate.
func TokenIDOf(jti string) TokenID { return feed.TokenIDOf(jti) }

// Feed supplies revocation changes by sequence number. revocation.List is
// the Feed of a local database; remote.Feed reads a writ server's signed
// revocation feed.
type Feed interface {
	// Changes returns the unexpired changes with a sequence number above
	// since, or an error wrapping ErrAhead if since is beyond the list's
	// sequence. An error leaves the reader's state as it was.
	Changes(ctx context.Context, since int64) (*Batch, error)
}

// WaitingFeed is a Feed that can hold a read until its list moves past
// since (a long-poll): remote.Feed with FeedConfig.Wait, remote.EdgeFeed
// with EdgeFeedConfig.Wait. A Snapshot's background loop reads such a feed
// with WaitChanges back to back, the wait pacing it, so that a change
// reaches it as soon as it is made, rather than with Changes every
// SnapshotConfig.Refresh.
type WaitingFeed interface {
	Feed
	// Wait is the longest WaitChanges holds a read that finds nothing
	// new; zero means that it does not hold reads: the feed is polled.
	Wait() time.Duration
	// WaitChanges is Changes, except that while the list has not moved
	// past since it waits, up to Wait, for it to, and then answers as
	// Changes does: the changes, or none with the list as of the end of
	// the wait. It may answer sooner with none (a feed that holds no
	// more reads).
	WaitChanges(ctx context.Context, since int64) (*Batch, error)
}
