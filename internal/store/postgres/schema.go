package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store"
)

// migrations[i] moves the schema from version i to i+1. Entries are only
// ever appended. The tables and columns are SQLite's (package
// internal/store/sqlite) in PostgreSQL's types, with these additions:
// keys and tokens have an identity column row_id, the insertion order that
// SQLite's rowid gives; revocation_head holds the last sequence number
// given out, in the transactions that give them out, so that a snapshot
// reads it as of its start.
var migrations = []string{
	`
CREATE TABLE meta (
	name  TEXT PRIMARY KEY,
	value BYTEA NOT NULL
);

CREATE TABLE keys (
	kid            TEXT PRIMARY KEY,
	format         TEXT NOT NULL CHECK (format IN ('jwt', 'paseto')),
	alg            TEXT NOT NULL,
	state          TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired', 'removed', 'compromised')),
	public_key     BYTEA NOT NULL,  -- PKIX DER
	private_key    BYTEA,           -- PKCS #8 DER sealed with the master key; NULL once it stops signing
	created_at     BIGINT NOT NULL,
	activated_at   BIGINT,
	retired_at     BIGINT,
	unpublish_at   BIGINT,          -- retired: when the last token it signed has expired
	removed_at     BIGINT,
	compromised_at BIGINT,
	mac            BYTEA,           -- binds the row to the master key (package keys)
	row_id         BIGINT GENERATED ALWAYS AS IDENTITY
);

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
	issued_at  BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	issued_by  TEXT NOT NULL,
	row_id     BIGINT GENERATED ALWAYS AS IDENTITY
);

CREATE INDEX tokens_subject ON tokens (subject, issued_at);
CREATE INDEX tokens_expires ON tokens (expires_at);
CREATE INDEX tokens_kid ON tokens (kid, expires_at);

-- Every row is one change; seq orders them and never goes back.
CREATE TABLE revocations (
	seq           BIGINT PRIMARY KEY,
	kind          TEXT NOT NULL CHECK (kind IN ('token', 'subject', 'key')),
	value         TEXT NOT NULL,    -- jti, subject or kid
	issued_before BIGINT,           -- subject: tokens issued before this (unix s)
	effective_at  BIGINT NOT NULL,
	expires_at    BIGINT NOT NULL,
	reason        TEXT NOT NULL,
	actor         TEXT NOT NULL,
	created_at    BIGINT NOT NULL
);

-- The last sequence number given out, whether or not its entry remains.
CREATE TABLE revocation_head (
	one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
	seq BIGINT NOT NULL
);
INSERT INTO revocation_head (seq) VALUES (0);

-- A token or key is revoked once.
CREATE UNIQUE INDEX revocations_token ON revocations (value) WHERE kind = 'token';
CREATE UNIQUE INDEX revocations_key ON revocations (value) WHERE kind = 'key';
CREATE INDEX revocations_subject ON revocations (value) WHERE kind = 'subject';
CREATE INDEX revocations_expires ON revocations (expires_at);

-- The token entries of revocations again, packed by package revocation.
CREATE TABLE revoked_tokens_packed (
	chunk BIGINT PRIMARY KEY,
	data  BYTEA NOT NULL
);

CREATE TABLE audit (
	id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at      BIGINT NOT NULL,  -- unix ms
	actor   TEXT NOT NULL,
	action  TEXT NOT NULL,
	subject TEXT NOT NULL DEFAULT '',
	jti     TEXT NOT NULL DEFAULT '',
	kid     TEXT NOT NULL DEFAULT '',
	detail  TEXT NOT NULL DEFAULT ''
);

CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_subject ON audit (subject, at);
CREATE INDEX audit_jti ON audit (jti);
`,
	// 2: as SQLite's 5.
	`
ALTER TABLE tokens ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN parent TEXT NOT NULL DEFAULT '';
CREATE INDEX tokens_parent ON tokens (parent) WHERE parent <> '';
`,
	// 3: as SQLite's 6.
	`
CREATE INDEX tokens_name ON tokens (subject, name);
`,
	// 4: as SQLite's 7.
	`
ALTER TABLE tokens ADD COLUMN revoked_at BIGINT NOT NULL DEFAULT 0;
UPDATE tokens SET revoked_at = coalesce((SELECT min(r.effective_at) FROM revocations r
	WHERE (r.kind = 'token' AND r.value = tokens.jti)
	   OR (r.kind = 'subject' AND r.value = tokens.subject AND r.issued_before > tokens.issued_at)
	   OR (r.kind = 'key' AND r.value = tokens.kid)), 0);
`,
	// 5: as SQLite's 8.
	`
CREATE TABLE usage_tokens (
	jti              TEXT PRIMARY KEY REFERENCES tokens (jti),
	first_use        BIGINT NOT NULL,
	last_use         BIGINT NOT NULL,
	last_client      TEXT NOT NULL,
	uses             BIGINT NOT NULL,
	clients_overflow BIGINT NOT NULL,
	alerted_at       BIGINT NOT NULL
);
CREATE INDEX usage_tokens_last_use ON usage_tokens (last_use);

CREATE TABLE usage_reasons (
	jti    TEXT NOT NULL,
	reason TEXT NOT NULL,
	n      BIGINT NOT NULL,
	PRIMARY KEY (jti, reason)
);

CREATE TABLE usage_days (
	jti     TEXT NOT NULL,
	day     BIGINT NOT NULL,
	uses    BIGINT NOT NULL,
	refused BIGINT NOT NULL,
	PRIMARY KEY (jti, day)
);
CREATE INDEX usage_days_day ON usage_days (day);

CREATE TABLE usage_clients (
	jti        TEXT NOT NULL,
	addr       TEXT NOT NULL,
	first_seen BIGINT NOT NULL,
	last_seen  BIGINT NOT NULL,
	uses       BIGINT NOT NULL,
	PRIMARY KEY (jti, addr)
);

CREATE TABLE usage_networks (
	jti        TEXT NOT NULL,
	network    TEXT NOT NULL,
	first_seen BIGINT NOT NULL,
	PRIMARY KEY (jti, network)
);
`,
	// 6: as SQLite's 9.
	`
CREATE TABLE console_sessions (
	id          BYTEA PRIMARY KEY,
	link        BOOLEAN NOT NULL,
	jti         TEXT NOT NULL,
	subject     TEXT NOT NULL,
	kid         TEXT NOT NULL,
	scopes      TEXT NOT NULL,
	audience    TEXT NOT NULL,
	allowed_ips TEXT NOT NULL,
	issued_at   BIGINT NOT NULL,
	token_exp   BIGINT NOT NULL,
	created_at  BIGINT NOT NULL,
	expires_at  BIGINT NOT NULL
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
`,
	// 7: as SQLite's 10.
	`
ALTER TABLE console_sessions ADD COLUMN seen_at BIGINT NOT NULL DEFAULT 0;
UPDATE console_sessions SET seen_at = created_at;
ALTER TABLE console_sessions ADD COLUMN held_name TEXT NOT NULL DEFAULT '';
ALTER TABLE console_sessions ADD COLUMN held BYTEA;
`,
}

// SchemaVersion is the schema version this writ writes.
func SchemaVersion() int { return len(migrations) }

// migrate brings the schema to the current version in one transaction,
// holding the write lock, so that processes opening a new database at
// once create it once. The version is the row of writ_schema, which also
// marks the database as writ's: a database with other tables and without
// it is another program's, and is refused (store.ErrNotWrit).
func migrate(ctx context.Context, c *pgx.Conn, create bool) error {
	tx, err := c.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, writeLock); err != nil {
		return err
	}
	var marked bool
	var others int
	err = tx.QueryRow(ctx, `SELECT to_regclass('writ_schema') IS NOT NULL,
		(SELECT count(*) FROM pg_tables WHERE schemaname = current_schema())`).Scan(&marked, &others)
	if err != nil {
		return err
	}
	version := 0
	if marked {
		if err := tx.QueryRow(ctx, `SELECT version FROM writ_schema`).Scan(&version); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
	} else if others > 0 {
		return fmt.Errorf("%w: the database has tables and is not writ's", store.ErrNotWrit)
	} else if !create {
		return fmt.Errorf("%w: the database has no writ schema", store.ErrNoDatabase)
	}
	switch {
	case version > len(migrations):
		return fmt.Errorf("%w: version %d, this writ knows up to %d", store.ErrNewerSchema, version, len(migrations))
	case version == len(migrations):
		return nil
	}
	if !marked {
		if _, err := tx.Exec(ctx, `CREATE TABLE writ_schema (version INTEGER NOT NULL);
			INSERT INTO writ_schema (version) VALUES (0)`); err != nil {
			return err
		}
	}
	for i := version; i < len(migrations); i++ {
		if _, err := tx.Exec(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migrate schema to version %d: %w", i+1, err)
		}
	}
	if version == 0 {
		// The revocation list's epoch: 16 random bytes, as SQLite's.
		epoch := make([]byte, 16)
		rand.Read(epoch)
		if _, err := tx.Exec(ctx, `INSERT INTO meta (name, value) VALUES ($1, $2)`, store.MetaRevocationEpoch, epoch); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE writ_schema SET version = $1`, len(migrations)); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
