package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations[i] moves the schema from version i to i+1. Entries are only
// ever appended.
var migrations = []string{
	// 1: keys and the issuance ledger.
	`
CREATE TABLE meta (
	name  TEXT PRIMARY KEY,
	value BLOB NOT NULL
) STRICT;

CREATE TABLE keys (
	kid          TEXT PRIMARY KEY,
	format       TEXT NOT NULL CHECK (format IN ('jwt', 'paseto')),
	alg          TEXT NOT NULL,
	state        TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired', 'removed', 'compromised')),
	public_key   BLOB NOT NULL,  -- PKIX DER
	private_key  BLOB,           -- PKCS #8 DER sealed with the master key; NULL once it stops signing
	created_at   INTEGER NOT NULL,
	activated_at INTEGER,
	retired_at   INTEGER,
	unpublish_at INTEGER,        -- retired: when the last token it signed has expired
	removed_at   INTEGER,
	compromised_at INTEGER
) STRICT;

-- At most one signing key per format, whatever the writers do.
CREATE UNIQUE INDEX keys_one_active ON keys (format) WHERE state = 'active';

CREATE TABLE tokens (
	jti        TEXT PRIMARY KEY,
	format     TEXT NOT NULL,
	kid        TEXT NOT NULL REFERENCES keys (kid),
	subject    TEXT NOT NULL,
	name       TEXT NOT NULL,
	scopes     TEXT NOT NULL,  -- space-separated
	audience   TEXT NOT NULL,  -- space-separated
	issued_at  INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	issued_by  TEXT NOT NULL
) STRICT;

CREATE INDEX tokens_subject ON tokens (subject, issued_at);
CREATE INDEX tokens_expires ON tokens (expires_at);
`,
	// 2: the revocation list and the audit log.
	`
-- Every row is one change; seq orders them and never goes back, so a
-- verifier refreshes with "seq > the last one I saw".
CREATE TABLE revocations (
	seq           INTEGER PRIMARY KEY AUTOINCREMENT,
	kind          TEXT NOT NULL CHECK (kind IN ('token', 'subject', 'key')),
	value         TEXT NOT NULL,     -- jti, subject or kid
	issued_before INTEGER,           -- subject: tokens issued before this (unix s)
	effective_at  INTEGER NOT NULL,  -- token: later than created_at after a grace period
	expires_at    INTEGER NOT NULL,  -- when every token it covers has expired
	reason        TEXT NOT NULL,
	actor         TEXT NOT NULL,
	created_at    INTEGER NOT NULL
) STRICT;

-- A token or key is revoked once; revoking it again changes nothing.
-- (One partial index per kind: SQLite uses a partial index only for
-- queries that repeat its WHERE term.)
CREATE UNIQUE INDEX revocations_token ON revocations (value) WHERE kind = 'token';
CREATE UNIQUE INDEX revocations_key ON revocations (value) WHERE kind = 'key';
CREATE INDEX revocations_subject ON revocations (value) WHERE kind = 'subject';
CREATE INDEX revocations_expires ON revocations (expires_at);

-- The token entries of revocations again, packed 24 bytes each (16 of
-- token id, effective_at and expires_at as 32-bit big-endian) into chunks
-- of up to 1024, kept in step in the same transactions: a verifier loads a
-- million revoked tokens from a thousand rows instead of a million.
CREATE TABLE revoked_tokens_packed (
	chunk INTEGER PRIMARY KEY,
	data  BLOB NOT NULL
) STRICT;

CREATE TABLE audit (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	at      INTEGER NOT NULL,  -- unix ms
	actor   TEXT NOT NULL,
	action  TEXT NOT NULL,
	subject TEXT NOT NULL DEFAULT '',
	jti     TEXT NOT NULL DEFAULT '',
	kid     TEXT NOT NULL DEFAULT '',
	detail  TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_subject ON audit (subject, at);
CREATE INDEX audit_jti ON audit (jti);
`,
	// 3: the revocation list's epoch, which a backup changes (see Backup).
	`
INSERT INTO meta (name, value) VALUES ('revocation_epoch', randomblob(16));
`,
	// 4: each key row bound to the master key by an HMAC (see package
	// keys): NULL until a keyring holding the master key binds the rows
	// of an older database, which only that keyring can do.
	`
ALTER TABLE keys ADD COLUMN mac BLOB;
`,
	// 5: a token's description, the networks it is bound to, and the
	// token that issued it (delegated issuing).
	`
ALTER TABLE tokens ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '';  -- space-separated CIDR prefixes
ALTER TABLE tokens ADD COLUMN parent TEXT NOT NULL DEFAULT '';       -- jti of the issuing token
CREATE INDEX tokens_parent ON tokens (parent) WHERE parent != '';
`,
	// 6: a subject's tokens by name, which issuing reads to keep names
	// unique among the live ones.
	`
CREATE INDEX tokens_name ON tokens (subject, name);
`,
	// 7: when a revocation took effect on the token, kept on its row, so
	// that it stays revoked once the entry is pruned (0: never), from the
	// entries there are.
	`
ALTER TABLE tokens ADD COLUMN revoked_at INTEGER NOT NULL DEFAULT 0;
UPDATE tokens SET revoked_at = coalesce((SELECT min(r.effective_at) FROM revocations r
	WHERE (r.kind = 'token' AND r.value = tokens.jti)
	   OR (r.kind = 'subject' AND r.value = tokens.subject AND r.issued_before > tokens.issued_at)
	   OR (r.kind = 'key' AND r.value = tokens.kid)), 0);
`,
	// 8: the usage of tokens that verifiers report: a summary per token,
	// and its refusals by reason, days, client addresses and networks.
	`
CREATE TABLE usage_tokens (
	jti              TEXT PRIMARY KEY REFERENCES tokens (jti),
	first_use        INTEGER NOT NULL,
	last_use         INTEGER NOT NULL,
	last_client      TEXT NOT NULL,     -- '' when unknown
	uses             INTEGER NOT NULL,  -- accepted
	clients_overflow INTEGER NOT NULL,  -- uses from addresses beyond the ones kept
	alerted_at       INTEGER NOT NULL   -- the last after-revocation event; 0: none
) STRICT;
CREATE INDEX usage_tokens_last_use ON usage_tokens (last_use);

CREATE TABLE usage_reasons (
	jti    TEXT NOT NULL,
	reason TEXT NOT NULL,
	n      INTEGER NOT NULL,
	PRIMARY KEY (jti, reason)
) STRICT, WITHOUT ROWID;

CREATE TABLE usage_days (
	jti     TEXT NOT NULL,
	day     INTEGER NOT NULL,  -- unix seconds / 86400
	uses    INTEGER NOT NULL,
	refused INTEGER NOT NULL,
	PRIMARY KEY (jti, day)
) STRICT, WITHOUT ROWID;
CREATE INDEX usage_days_day ON usage_days (day);

CREATE TABLE usage_clients (
	jti        TEXT NOT NULL,
	addr       TEXT NOT NULL,
	first_seen INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL,
	uses       INTEGER NOT NULL,
	PRIMARY KEY (jti, addr)
) STRICT, WITHOUT ROWID;

CREATE TABLE usage_networks (
	jti        TEXT NOT NULL,
	network    TEXT NOT NULL,
	first_seen INTEGER NOT NULL,
	PRIMARY KEY (jti, network)
) STRICT, WITHOUT ROWID;
`,
	// 9: the web console's
	// sessions and one-time sign-in links, found by the SHA-256 of their
	// secret. A copy of the database (writ db copy) leaves them out.
	`
CREATE TABLE console_sessions (
	id          BLOB PRIMARY KEY,
	link        INTEGER NOT NULL,  -- 1: a one-time sign-in link, not yet taken
	jti         TEXT NOT NULL,
	subject     TEXT NOT NULL,
	kid         TEXT NOT NULL,
	scopes      TEXT NOT NULL,
	audience    TEXT NOT NULL,
	allowed_ips TEXT NOT NULL,
	issued_at   INTEGER NOT NULL,
	token_exp   INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
`,
	// 10: a console session's last request, for its idle timeout (a
	// session of an earlier writ counts from its start), and a secret it
	// holds for one display (a new token, sealed under a key that only
	// the browser's session id gives).
	`
ALTER TABLE console_sessions ADD COLUMN seen_at INTEGER NOT NULL DEFAULT 0;
UPDATE console_sessions SET seen_at = created_at;
ALTER TABLE console_sessions ADD COLUMN held_name TEXT NOT NULL DEFAULT '';
ALTER TABLE console_sessions ADD COLUMN held BLOB;
`,
}

// SchemaVersion is the schema version this writ writes.
func SchemaVersion() int { return len(migrations) }

// migrate brings the schema to the current version and marks the database
// as writ's (PRAGMA application_id), in one transaction.
func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var version, id int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if err := tx.QueryRowContext(ctx, "PRAGMA application_id").Scan(&id); err != nil {
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("%w: version %d, this writ knows up to %d", ErrNewerSchema, version, len(migrations))
	}
	if version == len(migrations) && id == applicationID {
		return nil
	}
	for i := version; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migrate schema to version %d: %w", i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d; PRAGMA application_id = %d", len(migrations), applicationID)); err != nil {
		return err
	}
	return tx.Commit()
}
