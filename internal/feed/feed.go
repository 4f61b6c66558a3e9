// Package feed is the wire format of writ's signed revocation feed: the
// entries a revocation list hands to verifiers (a [Batch] of [RevokedToken],
// [SubjectCutoff] and [RevokedKey] entries), and the JSON payload of the
// JWS of type [Type] that writ serve publishes at /v1/revocations and that
// verifier/remote reads. Both sides use this package, so that what one
// writes the other reads.
//
// The payload is one JSON object:
//
//	{"iss":ISSUER,"iat":SIGNED,"epoch":EPOCH,"since":SINCE,"seq":SEQ,"next_update":NEXT,
//	 "tokens":[[ID,EFFECTIVE_AT,EXPIRES_AT],...],
//	 "subjects":[[SUBJECT,ISSUED_BEFORE,EXPIRES_AT],...],
//	 "keys":[[KID,EXPIRES_AT],...]}
//
// Times are unix seconds; token IDs are the base64url [TokenID]s of
// [TokenIDOf]. The entries are those in force after sequence SINCE, up to
// SEQ. [AppendHead] and [AppendEntries] write it, byte for byte as
// encoding/json would; [Decode] reads it strictly (see internal/jsonx).
//
// For verifiers at the edge, a list's whole state also comes as a binary
// [Snapshot] file ([AppendSnapshot], [DecodeSnapshot]), whose filter
// (internal/cascade) answers for the tokens the issuer recorded, and a
// signed [Manifest] (JWS of type [ManifestType]) that names the current
// snapshot and a delta, a feed document of the changes since it.
//
// Package verifier/revoked gives Go users these types under its own name.
package feed

import (
	"crypto/sha256"
	"math"
	"time"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/cascade"
)

// Type is the JWS typ of a signed revocation feed document.
const Type = "writ-revocations+jwt"

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
	// 2106-02-07 reads as that time (see Effective32 and Time32).
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
	// Filter, when set, holds the revoked tokens of a snapshot's universe:
	// the tokens with iat before Universe. A reader replaces its filter
	// with it, and consults it only for tokens issued before Universe.
	Filter   *cascade.Filter
	Universe int64 // unix seconds; meaningful only with Filter
	// FilterExpires is the Filter's Snapshot.Expires: the latest expiry of
	// the tokens it holds revoked.
	FilterExpires int64
}

// MaxTime32 is the latest time that 32 bits of unix seconds hold,
// 2106-02-07T06:28:15Z: a revocation list and a verifier's snapshot hold
// token entries' times so, at 4 bytes each.
const MaxTime32 = math.MaxUint32

// Time32 returns the unix time t as a token entry's expiry is held, in
// [1, MaxTime32]. An expiry only says when an entry may be forgotten, so
// holding one after 2106 as 2106 keeps the entry as long as any verifier
// of this format runs, and one before 1970 is as expired as 1970; 0 marks
// an empty slot of a verifier's set of revoked tokens.
func Time32(t int64) uint32 { return uint32(min(max(t, 1), MaxTime32)) }

// Effective32 returns the unix time t as a token entry's effective time is
// held, in [0, MaxTime32]: one before 1970 is as past as 1970, and one
// after 2106, which a revocation list refuses but an older database may
// hold, takes effect in 2106: sooner, never later, than asked.
func Effective32(t int64) uint32 { return uint32(min(max(t, 0), MaxTime32)) }

// The list sizes a reader of the feed follows: a writ server's feed of a
// list of up to MaxTokens revoked tokens and MaxOthers revoked subjects and
// keys besides, every entry at its longest, fits in MaxSize. A document
// (the whole JWS) larger than MaxSize is refused as too large.
const (
	MaxTokens = 1_500_000
	MaxOthers = 10_000
	MaxSize   = (MaxTokens*tokenEntrySize+MaxOthers*otherEntrySize+2)/3*4 + restSize
)

// The longest entries of a payload, in bytes of JSON with the comma that
// follows them, and room for the rest of a document.
const (
	// ["<22 base64url characters>",<effective_at>,<expires_at>]: times of
	// at most 10 digits, since a revocation list holds a token entry's
	// times in 32 bits (Time32, Effective32).
	tokenEntrySize = 2 + 22 + 2 + 10 + 1 + 10 + 1 + 1
	// ["<subject or kid>",<issued_before>,<expires_at>]: a revocation
	// list's subjects and kids are at most 256 bytes, each escaped in at
	// most 6 (\u003c), and the times are int64s of at most 20 characters.
	otherEntrySize = 1 + 2 + 6*256 + 2*(1+20) + 1 + 1
	// The payload's other members, the JWS header and the signature.
	restSize = 64 << 10
)
