// Package store is the contract between writ's rules (packages keys,
// issuer, revocation and audit) and the engines that keep their data.
//
// The rules hold no SQL and no database handle: they call the named
// operations of an [Executor], on a [Store] or within a [Tx], and read and
// write the plain rows declared here. An engine, one package under
// internal/store (internal/store/sqlite today), holds the schema, every
// statement and the transactions, and implements [Store]. The suite in
// internal/store/storetest proves each engine against this contract.
//
// # Transactions
//
// An operation called on a Store is a transaction of its own. [Executor.Begin]
// begins a write transaction, which holds the engine's write lock from its
// start, so that what it reads stays true until it commits (SQLite: BEGIN
// IMMEDIATE, waiting for other writers up to a busy timeout);
// [Executor.BeginRead] begins a read-only snapshot that does not block
// writers. Within a Tx, both join it, so that rules written against an
// Executor run within another rule's transaction unchanged:
// keys.Ring.Compromise revokes the key's tokens, through a revocation.List
// over its Tx, in the transaction that withdraws the key. A joined Tx
// commits with the one it joined: its Commit only ends it, and its
// Rollback undoes the whole transaction, whose own Commit then fails.
// There is no partial rollback. A Tx that has ended, or whose transaction
// a joined Tx rolled back, refuses every operation; a read-only one
// refuses every write (and Begin).
//
// # Errors
//
// Operations return an error wrapping [ErrNotFound] for a row that does not
// exist, where the operation says so, and [ErrConflict] for a write that a
// uniqueness rule of the schema or a compare-and-swap refused; within a
// Tx, either leaves it usable. Any other error is the engine's, and within
// a Tx it may have ended the transaction's use (PostgreSQL aborts a
// transaction at its first failed statement): the caller rolls it back.
package store

import (
	"context"
	"errors"
)

var (
	// ErrNotFound: the row asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a write refused by a uniqueness rule of the schema (a
	// second active key of a format, a second entry for one token or key)
	// or by a compare-and-swap whose old state no longer holds.
	ErrConflict = errors.New("conflicting change")
	// ErrNoDatabase is returned by an engine's Open when the database does
	// not exist and creating it was not asked for.
	ErrNoDatabase = errors.New("no database")
	// ErrNewerSchema is returned by an engine's Open for a database whose
	// schema a newer writ wrote.
	ErrNewerSchema = errors.New("database schema is newer than this writ")
	// ErrNotWrit is returned by an engine's Open for a database that is not
	// writ's: another program's database, or, for SQLite, a file that is
	// not SQLite or an empty file where a database must already exist.
	// Such a database is left as it was.
	ErrNotWrit = errors.New("not a writ database")
)

// The rows of the meta table that more than one package names.
const (
	// MetaRevocationEpoch names the revocation list's history (see
	// Executor.RevocationHead). A backup gets a new one.
	MetaRevocationEpoch = "revocation_epoch"
	// MetaMasterKeyCheck holds a value sealed under the master key, which
	// tells a wrong master key at once (package keys).
	MetaMasterKeyCheck = "master_key_check"
	// MetaKeySeal holds the seal of the published key set (package keys).
	MetaKeySeal = "key_set_seal"
	// MetaPublicationLag holds the publication lags that servers record
	// (package keys).
	MetaPublicationLag = "publication_lag"
	// MetaMasterKeySuccessor holds, while a master-key rotation is under
	// way, the new master key sealed under the previous one (package keys).
	MetaMasterKeySuccessor = "master_key_successor"
	// MetaMasterKeyPreviousSeen holds when a keyring holding the previous
	// master key last used its successor (package keys).
	MetaMasterKeyPreviousSeen = "master_key_previous_seen"
	// MetaLifetimePolicy holds the lifetime policy of tokens (package
	// internal/lifetime).
	MetaLifetimePolicy = "policy.lifetime"
)

// Store is an open database: the operations, and what a whole database
// does. It is safe for concurrent use.
type Store interface {
	Executor
	// Backup writes a consistent copy of the database to a new file at
	// path while it is in use; see the engine for its terms.
	Backup(ctx context.Context, path string) error
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close closes the database.
	Close() error
}

// Watcher is what an engine whose database several processes share
// offers, so that each enforces another's changes at once rather than at
// its next poll (PostgreSQL: LISTEN/NOTIFY). It is optional: a Store that
// does not implement it is only polled (SQLite, whose database one
// server shares with the CLI).
type Watcher interface {
	// Watch returns the channels on which it announces the changes that
	// any handle on the database, this one included, commits: see
	// Changes. It returns once it listens, so that every change committed
	// after it returns is announced, or an error when it cannot listen.
	// The channels are closed when ctx is done or the Store closes.
	Watch(ctx context.Context) (Changes, error)
}

// Changes are the announcements of a Watcher, one channel per concern.
// Each channel holds at most one value, and the engine never waits for
// the receiver: announcements coalesce, so that one value may stand for
// many changes, and the receiver rereads what it follows. Each also
// receives a value after the engine reconnects to the database, since
// changes made meanwhile went unannounced. A transaction that rolls back
// announces nothing, nor do token inserts and audit events, which no
// other process follows: issuance costs what it did without a Watcher.
type Changes struct {
	// Keys: a key row, or a meta row of package keys (the key set's
	// seal, the master key check, the publication lags), changed.
	Keys <-chan struct{}
	// Revocations: the revocation list changed (an entry inserted,
	// deleted or pruned), or its epoch (MetaRevocationEpoch).
	Revocations <-chan struct{}
}

// Change is what a write transaction changed that a Watcher announces: a
// set of the Changed... values.
type Change uint8

// The concerns of Changes.
const (
	ChangedKeys Change = 1 << iota
	ChangedRevocations
)

// Tx is a transaction: the operations, within it, and its end. A Tx is
// used by one goroutine at a time. Rollback after Commit does nothing, so
// that a deferred Rollback is always safe.
type Tx interface {
	Executor
	Commit() error
	Rollback() error
}

// Executor is every storage operation writ's rules use, named for what it
// does. Times are unix seconds unless a field says otherwise.
type Executor interface {
	// Begin begins a write transaction; within a Tx, joins it.
	Begin(ctx context.Context) (Tx, error)
	// BeginRead begins a read-only transaction, a consistent snapshot
	// that does not block writers; within a Tx, joins it, read-only.
	BeginRead(ctx context.Context) (Tx, error)
	// Now returns the database's clock, in unix seconds: the one clock
	// that every process writing the database shares, whatever the clocks
	// of their hosts, so that the issuer's ledger and a revocation
	// snapshot agree on time (see revocation.UniverseMargin). Within a
	// transaction it is the time of the call, not of the transaction's
	// start. PostgreSQL: clock_timestamp(). SQLite: the clock of the
	// process, since every process writing a SQLite file runs on the
	// machine that holds it, and one machine has one clock.
	Now(ctx context.Context) (int64, error)

	// KeyRows returns the key rows that f selects, oldest first (by
	// creation, then by insertion), with the value of the meta row
	// MetaKeySeal read by the same statement, so that a change committed
	// in between by another process is never seen half: the seal is nil
	// when no row matches or there is no seal.
	KeyRows(ctx context.Context, f KeyFilter) (rows []KeyRow, seal []byte, err error)
	// KeyActive is KeyRows for the active key of format, which writ reads
	// at every issuance: engines make it cheap (SQLite prepares it once).
	KeyActive(ctx context.Context, format string) (rows []KeyRow, seal []byte, err error)
	// KeyState returns the state of the key kid, or an error wrapping
	// ErrNotFound.
	KeyState(ctx context.Context, kid string) (string, error)
	// KeyInsert inserts r, every column as given. It fails with an error
	// wrapping ErrConflict when a key with r.KID exists, or when r is
	// active and its format has an active key: at most one key per
	// format is active, whatever the writers do.
	KeyInsert(ctx context.Context, r KeyRow) error
	// KeyUpdate writes the state, lifecycle times and MAC of r to the
	// row r.KID, if that row is in state from (a compare-and-swap), and
	// erases its private half unless keepPrivate is set. It fails with an
	// error wrapping ErrConflict unless exactly that row changed, and, as
	// KeyInsert, for a second active key of a format.
	KeyUpdate(ctx context.Context, r KeyRow, from string, keepPrivate bool) error
	// KeySetMAC sets the MAC of the row kid (nil: none), and nothing
	// else. A missing row is not an error.
	KeySetMAC(ctx context.Context, kid string, mac []byte) error
	// KeySetPrivate sets the sealed private half of the row kid, and
	// nothing else: a master-key rotation seals it anew. A missing row is
	// not an error.
	KeySetPrivate(ctx context.Context, kid string, private []byte) error

	// MetaGet returns the value of the meta row name, or an error
	// wrapping ErrNotFound.
	MetaGet(ctx context.Context, name string) ([]byte, error)
	// MetaPut sets the meta row name to value, creating it if need be.
	MetaPut(ctx context.Context, name string, value []byte) error
	// MetaDelete deletes the meta row name. A missing row is not an error.
	MetaDelete(ctx context.Context, name string) error
	// MetaEach calls fn with the name and value of each meta row, in the
	// order of their names, stopping at fn's first error, which it
	// returns: a copy of the database copies them all. Rows an engine
	// keeps there for itself are left out. fn must not keep value.
	MetaEach(ctx context.Context, fn func(name string, value []byte) error) error

	// TokenInsertMany records tokens and events, for the issuer's group
	// commit: engines prepare each statement once for all the rows.
	TokenInsertMany(ctx context.Context, tokens []TokenRow, events []AuditRow) error
	// TokenGet returns the token jti, without its status, or an error
	// wrapping ErrNotFound.
	TokenGet(ctx context.Context, jti string) (TokenRow, error)
	// TokenList returns the tokens that f selects, newest first (by
	// issuance, then by insertion), each with its status at f.At (see
	// TokenRow.Status), at most f.Limit of them.
	TokenList(ctx context.Context, f TokenFilter) ([]TokenRow, error)
	// TokenCount returns how many tokens TokenList would return for f
	// without its limit (f.Limit is ignored).
	TokenCount(ctx context.Context, f TokenFilter) (int64, error)
	// TokenNamed returns the jti of a live token of subject named name,
	// other than except, or "" when there is none: a token that expires
	// after at and that no revocation entry names or covers (an entry of
	// its jti, in force or scheduled, of its subject issued after it, of
	// its key). Engines make it cheap: the issuer reads it at every
	// issuance of a named token.
	TokenNamed(ctx context.Context, subject, name string, at int64, except string) (string, error)
	// TokenSubjectKnown reports whether any token was issued to subject.
	TokenSubjectKnown(ctx context.Context, subject string) (bool, error)
	// TokenLastExpiry returns the latest expiry of the tokens signed by
	// the key kid; ok is false when it signed none.
	TokenLastExpiry(ctx context.Context, kid string) (exp int64, ok bool, err error)
	// TokenDescendants returns the tokens issued by the token jti (whose
	// Parent is jti), the tokens they issued, and so on to any depth,
	// without their statuses, in the order they were inserted; none for an
	// empty jti. A cycle of parents (only a tampered database has one)
	// ends the walk where it closes.
	TokenDescendants(ctx context.Context, jti string) ([]TokenRow, error)
	// TokenDescendantsOfKey is TokenDescendants of every token that the
	// key kid signed at once, leaving out the tokens kid signed itself.
	TokenDescendantsOfKey(ctx context.Context, kid string) ([]TokenRow, error)
	// TokenDescendantsOfSubject is TokenDescendants of every token issued
	// to subject before the time before (unix seconds), leaving out the
	// tokens of subject issued before it themselves: the descendants that
	// a revocation of the subject's tokens issued before it does not
	// cover by itself.
	TokenDescendantsOfSubject(ctx context.Context, subject string, before int64) ([]TokenRow, error)
	// TokenEach calls fn with every token, without its status, in the
	// order they were inserted, stopping at fn's first error, which it
	// returns. fn must not keep t, which the next call reuses.
	TokenEach(ctx context.Context, fn func(t *TokenRow) error) error
	// TokenJTIEach calls fn with the jti of every token issued before
	// issuedBefore and expiring at or after expiresFrom, in no set order,
	// stopping at fn's first error, which it returns: the universe of a
	// revocation snapshot, read in one pass at a million rows. fn must not
	// keep jti, which the next call reuses.
	TokenJTIEach(ctx context.Context, issuedBefore, expiresFrom int64, fn func(jti []byte) error) error

	// RevocationInsert inserts r with the next sequence number, which it
	// returns (r.Seq is ignored). A list holds one entry per token and
	// per key: a second fails with an error wrapping ErrConflict.
	// It records on the rows of the tokens r covers when it takes effect
	// (TokenRow.RevokedAt), unless an earlier revocation did.
	RevocationInsert(ctx context.Context, r RevocationRow) (seq int64, err error)
	// RevocationGet returns the entry of kind RevokeToken or RevokeKey
	// for value, or an error wrapping ErrNotFound.
	RevocationGet(ctx context.Context, kind, value string) (RevocationRow, error)
	// RevocationRestore inserts rows as they are, each with its own
	// sequence number, for a copy of another list: the numbers must
	// ascend and the first be above the last given out, and the last of
	// them becomes the last given out. A number out of order, or a second
	// entry for a token or key, fails with an error wrapping ErrConflict,
	// and may leave other rows written: the caller rolls back.
	RevocationRestore(ctx context.Context, rows []RevocationRow) error
	// RevocationDelete deletes the entry seq. The sequence never goes
	// back: no later entry gets its number.
	RevocationDelete(ctx context.Context, seq int64) error
	// RevocationEach calls fn with each entry that f selects, in sequence
	// order (with f.Newest, the reverse), stopping at fn's first error,
	// which it returns. fn must not keep r, which the next call reuses.
	RevocationEach(ctx context.Context, f RevocationFilter, fn func(r *RevocationRow) error) error
	// RevocationHead returns the last sequence number given out (0
	// before any), whether or not its entry was deleted since, and the
	// value of the meta row MetaRevocationEpoch.
	RevocationHead(ctx context.Context) (seq int64, epoch []byte, err error)
	// RevocationCovers reports whether an entry in force at the time at
	// revokes a token: an entry of its jti that takes effect by then, one
	// of its subject with an IssuedBefore after issuedAt, or one of its
	// key. TokenList computes TokenRow.Status by the same rule.
	RevocationCovers(ctx context.Context, at int64, jti, subject, kid string, issuedAt int64) (bool, error)
	// RevocationPrune deletes the entries that expired before cutoff and
	// returns how many of them were token entries and how many others.
	// It leaves the packed token entries as they are.
	RevocationPrune(ctx context.Context, cutoff int64) (tokens, others int64, err error)

	// The token entries again, packed by package revocation into records
	// of a fixed size held in chunks, kept in step with the entries in the
	// same transactions: a verifier loads a million of them from a
	// thousand rows. The engine treats records as bytes.

	// PackedAppend appends record to the last chunk, or starts a chunk
	// when there is none or the last holds chunkSize bytes or more.
	PackedAppend(ctx context.Context, record []byte, chunkSize int) error
	// PackedReplace replaces every chunk with chunks, in order.
	PackedReplace(ctx context.Context, chunks [][]byte) error
	// PackedSize returns the bytes that the chunks hold together.
	PackedSize(ctx context.Context) (int64, error)
	// PackedEach calls fn with each chunk in order, stopping at fn's
	// first error, which it returns. chunk is valid only during the call:
	// engines hand out their own buffer rather than a copy.
	PackedEach(ctx context.Context, fn func(chunk []byte) error) error

	// TokenGetMany returns the tokens among jtis that are recorded, without
	// their statuses, in no particular order; jtis that name none are left
	// out. Engines read them in few statements, however many jtis there are.
	TokenGetMany(ctx context.Context, jtis []string) ([]TokenRow, error)

	// The usage of tokens, as verifiers report it: a summary per token
	// (see Usage), kept by package issuer, which bounds it.

	// UsageRecord adds each of deltas to the summary of its token, making
	// the summary when there is none: the earlier of the first uses and
	// the later of the last (with its client), the sums of the counts
	// (uses, overflow, refusals by reason, and uses and refusals by day
	// and by client, whose first and last times widen as the summary's
	// do), the later AlertedAt, and the networks it does not hold yet
	// (with their first times). Engines write each row with one upsert,
	// prepared once for all (PostgreSQL: one round trip). A delta must
	// name a recorded token and hold each reason, day, client and network
	// once: a summary holds no usage of unknown tokens, and bounds are the
	// caller's.
	UsageRecord(ctx context.Context, deltas []Usage) error
	// UsageGet returns the summaries of those of jtis that have one,
	// ordered by jti, each with its reasons, clients and networks ordered
	// by name, and, when days is set, its days in order; without days,
	// Days is nil, which recording needs not.
	UsageGet(ctx context.Context, jtis []string, days bool) ([]Usage, error)
	// UsageEach calls fn with every summary, as UsageGet reads it with its
	// days, ordered by jti, stopping at fn's first error, which it
	// returns. It holds a bounded number of summaries at a time. fn must
	// not keep u.
	UsageEach(ctx context.Context, fn func(u *Usage) error) error
	// UsagePrune deletes the days before the day dayBefore (a Usage.Day),
	// and the whole summaries of the tokens that expired before
	// expiredBefore (unix seconds), and returns how many rows it deleted.
	UsagePrune(ctx context.Context, dayBefore, expiredBefore int64) (int64, error)

	// AuditInsert appends e to the audit log (e.ID is ignored; an empty
	// Actor is recorded as "unknown").
	AuditInsert(ctx context.Context, e AuditRow) error
	// AuditList returns the newest f.Limit events that f selects, oldest
	// first.
	AuditList(ctx context.Context, f AuditFilter) ([]AuditRow, error)
	// AuditEach calls fn with every event, oldest first (by ID), stopping
	// at fn's first error, which it returns. fn must not keep e, which
	// the next call reuses.
	AuditEach(ctx context.Context, fn func(e *AuditRow) error) error

	// The web console's sessions and one-time sign-in links (package
	// internal/session). Rows are found by the SHA-256 of their secret,
	// which the database never holds.

	// SessionInsert stores r as a session. It fails with an error
	// wrapping ErrConflict when a session with r.ID exists.
	SessionInsert(ctx context.Context, r SessionRow) error
	// SessionGet returns the session id unless it expired at or before
	// at, or an error wrapping ErrNotFound.
	SessionGet(ctx context.Context, id []byte, at int64) (SessionRow, error)
	// SessionSeen records at as the time of the session id's last
	// request (SessionRow.SeenAt). A missing row is not an error.
	SessionSeen(ctx context.Context, id []byte, at int64) error
	// SessionHold keeps sealed on the session id under name, for one
	// SessionTakeHeld, replacing what it held before. sealed is opaque
	// to the store (package session seals it under a key that only the
	// browser's session id gives). It fails with an error wrapping
	// ErrNotFound when there is no session id.
	SessionHold(ctx context.Context, id []byte, name string, sealed []byte) error
	// SessionTakeHeld returns what the session id holds under name and
	// forgets it, or an error wrapping ErrNotFound when it holds nothing
	// under name (nothing, something under another name, taken already,
	// or no such session). Of concurrent takes, one at most returns it.
	SessionTakeHeld(ctx context.Context, id []byte, name string) ([]byte, error)
	// SessionDelete deletes the session id. A missing row is not an error.
	SessionDelete(ctx context.Context, id []byte) error
	// SessionLinkInsert stores r as a one-time sign-in link: the session
	// that taking it starts, until r.ExpiresAt. It fails with an error
	// wrapping ErrConflict when a link with r.ID exists.
	SessionLinkInsert(ctx context.Context, r SessionRow) error
	// SessionLinkTake deletes the link id and returns it, unless it
	// expired at or before at: an error wrapping ErrNotFound then, as
	// for a missing link. Of concurrent takes of one link, one at most
	// returns it.
	SessionLinkTake(ctx context.Context, id []byte, at int64) (SessionRow, error)
	// SessionPrune deletes the sessions and links that expired at or
	// before at, and returns how many.
	SessionPrune(ctx context.Context, at int64) (int64, error)
}

// SessionRow is a session of the web console, or a one-time link that
// starts one: what the console keeps of the token that signed in, so that
// every request checks the token again without holding it.
type SessionRow struct {
	ID                   []byte // SHA-256 of the session id or link code
	JTI, Subject, KID    string
	Scopes, Audience     string // space-separated
	AllowedIPs           string // space-separated CIDR prefixes; "" when unbound
	IssuedAt, TokenExpAt int64  // the token's iat and exp
	CreatedAt, ExpiresAt int64
	// SeenAt is when the session's last request was recorded
	// (SessionSeen), for its idle timeout.
	SeenAt int64
}

// SessionColumns are the columns of a session or link row in the order of
// SessionRow.Fields, for the engines' statements.
const SessionColumns = `id, jti, subject, kid, scopes, audience, allowed_ips, issued_at, token_exp, created_at, expires_at, seen_at`

// Fields returns pointers to r's fields in the order of SessionColumns.
func (r *SessionRow) Fields() []any {
	return []any{&r.ID, &r.JTI, &r.Subject, &r.KID, &r.Scopes, &r.Audience, &r.AllowedIPs,
		&r.IssuedAt, &r.TokenExpAt, &r.CreatedAt, &r.ExpiresAt, &r.SeenAt}
}

// Values returns r's fields in the order of SessionColumns.
func (r *SessionRow) Values() []any {
	return []any{r.ID, r.JTI, r.Subject, r.KID, r.Scopes, r.Audience, r.AllowedIPs,
		r.IssuedAt, r.TokenExpAt, r.CreatedAt, r.ExpiresAt, r.SeenAt}
}

// Unix is a time in unix seconds, or none (NULL) when Valid is false.
type Unix struct {
	Sec   int64
	Valid bool
}

// At returns the time sec, valid.
func At(sec int64) Unix { return Unix{Sec: sec, Valid: true} }

// KeyRow is a row of the keyring, as stored.
type KeyRow struct {
	KID    string
	Format string // jwt or paseto
	Alg    string
	State  string // next, active, retired, removed or compromised
	Public []byte // PKIX DER
	// Private is the private half in PKCS #8 DER, sealed with the master
	// key; nil once the key stopped signing.
	Private                                             []byte
	Created                                             int64
	Activated, Retired, Unpublish, Removed, Compromised Unix
	// MAC binds the row to the master key (package keys); nil for a row
	// of an older database that no keyring has bound yet.
	MAC []byte
}

// KeyFilter selects key rows. Zero fields match every row.
type KeyFilter struct {
	KID    string
	Format string
	States []string // any of these
	// Unbound selects only the rows without a MAC.
	Unbound bool
}

// TokenRow is the record of an issued token.
type TokenRow struct {
	JTI, Format, KID, Subject, Name string
	Scopes, Audience                string // space-separated
	IssuedAt, ExpiresAt             int64
	IssuedBy                        string
	Description                     string // free text; "" when none
	AllowedIPs                      string // space-separated CIDR prefixes; "" when unbound
	Parent                          string // the jti of the token that issued it; "" when an admin did
	// Row, read by TokenList only, orders tokens issued in the same
	// second: it grows with each insert (see TokenFilter.Before).
	Row int64
	// RevokedAt is when a revocation took effect, or takes effect, on the
	// token (unix seconds; 0: none ever did): RevocationInsert sets it,
	// and it outlives the entry, which is pruned once the token expired.
	RevokedAt int64
	// LastUse, read by TokenList only, is the last use of its usage
	// summary (unix seconds; 0: none).
	LastUse int64
	// Status, read by TokenList only: "revoked" when RevokedAt has come
	// or an entry in force covers the token (see
	// Executor.RevocationCovers), else "expired"
	// once its expiry is at or before the time asked about, else
	// "active".
	Status string
}

// TokenColumns are the columns of a token row in the order of
// TokenRow.Fields, for the engines' statements.
const TokenColumns = `jti, format, kid, subject, name, scopes, audience, issued_at, expires_at, issued_by, description, allowed_ips, parent, revoked_at`

// Fields returns pointers to t's fields in the order of TokenColumns, to
// scan a row into or to bind as the values of an insert.
func (t *TokenRow) Fields() []any {
	return []any{&t.JTI, &t.Format, &t.KID, &t.Subject, &t.Name, &t.Scopes, &t.Audience,
		&t.IssuedAt, &t.ExpiresAt, &t.IssuedBy, &t.Description, &t.AllowedIPs, &t.Parent, &t.RevokedAt}
}

// Values returns t's fields in the order of TokenColumns.
func (t *TokenRow) Values() []any {
	return []any{t.JTI, t.Format, t.KID, t.Subject, t.Name, t.Scopes, t.Audience,
		t.IssuedAt, t.ExpiresAt, t.IssuedBy, t.Description, t.AllowedIPs, t.Parent, t.RevokedAt}
}

// TokenFilter selects tokens for TokenList. Zero fields match every token.
type TokenFilter struct {
	JTI, Subject, Name string
	// Search, when not empty, selects the tokens whose name or subject
	// contains it, a substring (no patterns), the case of ASCII letters
	// ignored: other letters match only as written (É is not é), alike
	// on every engine, whatever its locale.
	Search string
	Parent string // the tokens this token issued
	Status string // active, expired or revoked
	At     int64  // the time of the statuses
	// ExpiresBy, when not zero, selects the tokens unexpired at At and
	// expiring at or before ExpiresBy.
	ExpiresBy int64
	// Before, when its IssuedAt is not zero, selects the tokens listed
	// after it, newest first: issued before Before.IssuedAt, or in that
	// second and inserted before Before.Row. It is the last row of the
	// previous page (keyset pagination: rows inserted meanwhile neither
	// repeat nor shift a page).
	//
	// With ByLastUse, it is the place in that order: used last before
	// Before.LastUse, or then and inserted before Before.Row.
	Before TokenCursor
	// ByLastUse orders the tokens by their last use (TokenRow.LastUse),
	// most recent first, the tokens never used last, and then by
	// insertion, newest first.
	ByLastUse bool
	// NeverUsed selects the tokens without a usage summary.
	NeverUsed bool
	Limit     int // required: at most this many
}

// TokenCursor is the place of a token in TokenList's order: its issuance
// (or, with TokenFilter.ByLastUse, its last use) and TokenRow.Row.
type TokenCursor struct {
	IssuedAt, LastUse, Row int64
}

// The kinds of revocation entries.
const (
	RevokeToken   = "token"   // one token, by jti
	RevokeSubject = "subject" // the tokens of a subject issued before a time
	RevokeKey     = "key"     // the tokens of a key
)

// RevocationRow is an entry of the revocation list.
type RevocationRow struct {
	Seq          int64
	Kind         string // RevokeToken, RevokeSubject or RevokeKey
	Value        string // jti, subject or kid
	IssuedBefore Unix   // subject entries
	EffectiveAt  int64
	ExpiresAt    int64
	Reason       string
	Actor        string
	CreatedAt    int64
}

// RevocationFilter selects entries. Zero fields match every entry.
type RevocationFilter struct {
	Kinds []string // any of these
	Value string
	// After selects the entries whose sequence number is above it.
	After int64
	// ExpiresFrom, when valid, selects the entries expiring at or after it.
	ExpiresFrom Unix
	// Before, when not zero, selects the entries whose sequence number is
	// below it.
	Before int64
	// Newest, when not zero, selects at most this many entries, those of
	// the highest sequence numbers, and reads them newest first: a page
	// of the list, read without reading the rest.
	Newest int
}

// AuditRow is an event of the audit log.
type AuditRow struct {
	ID                                       int64
	At                                       int64 // unix milliseconds
	Actor, Action, Subject, JTI, KID, Detail string
}

// AuditFilter selects events. Zero fields match every event.
type AuditFilter struct {
	Subject, JTI string
	Since        int64 // unix milliseconds
	// Before, when not zero, selects the events recorded before the
	// event of this ID (a smaller ID): with the oldest ID of a page, the
	// page before it (keyset pagination: events recorded meanwhile
	// neither repeat nor shift a page).
	Before int64
	Limit  int // required: the newest this many
}

// Usage is the summary of the uses of one token that verifiers reported
// (package issuer decides what counts, and bounds each list), or what a
// batch of reports adds to it (Executor.UsageRecord). Times are unix
// seconds.
type Usage struct {
	JTI string
	// First and Last are the first and last use; LastClient the client
	// address of the last use ("" when unknown).
	First, Last int64
	LastClient  string
	// Uses counts the accepted uses.
	Uses int64
	// ClientsOverflow counts the uses from addresses that Clients, full,
	// does not hold.
	ClientsOverflow int64
	// AlertedAt is when the last event of a use after revocation was
	// recorded; 0: never.
	AlertedAt int64
	Reasons   []UsageReason
	Days      []UsageDay
	Clients   []UsageClient
	Networks  []UsageNetwork
}

// UsageReason counts the refusals of one reason.
type UsageReason struct {
	Reason string
	N      int64
}

// UsageDay counts the uses and refusals of one UTC day, numbered from
// 1970-01-01 (unix seconds / 86400).
type UsageDay struct {
	Day, Uses, Refused int64
}

// UsageClient is a client address seen: when first and last, and how
// many times.
type UsageClient struct {
	Addr        string
	First, Last int64
	Uses        int64
}

// UsageNetwork is a network seen, and when first.
type UsageNetwork struct {
	Network string
	First   int64
}
