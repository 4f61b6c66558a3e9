// Package sqlitetest helps tests of other packages work on a real SQLite
// database: open one, and make the few edits under the storage contract
// that tests need, such as a process that may write the file but lacks
// the master key would make (a key row changed, a meta row deleted), or a
// failure of one statement (a trigger that refuses a row). The SQL stays
// here, in the engine's tree. Only tests import it.
package sqlitetest

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/store/sqlite"
)

// Create creates a new database at path, closed when tb ends.
func Create(tb testing.TB, path string) *sqlite.DB {
	tb.Helper()
	return open(tb, path, true)
}

// Open opens the existing database at path to write, as another process
// would, closed when tb ends.
func Open(tb testing.TB, path string) *sqlite.DB {
	tb.Helper()
	return open(tb, path, false)
}

func open(tb testing.TB, path string, create bool) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), path, create)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// NewDB creates a database in a new temporary directory of tb.
func NewDB(tb testing.TB) *sqlite.DB {
	tb.Helper()
	return Create(tb, filepath.Join(tb.TempDir(), "writ.db"))
}

// Path returns the file of db.
func Path(tb testing.TB, db *sqlite.DB) string {
	tb.Helper()
	var path string
	if err := db.Handle().QueryRow(`SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path); err != nil {
		tb.Fatal(err)
	}
	return path
}

// Unsynced has db use two connections, its writer and one other, that do
// not wait for the disk, for simulations that write thousands of rows: the
// durability tests cover the syncs.
func Unsynced(tb testing.TB, db *sqlite.DB) {
	tb.Helper()
	const pragma = `PRAGMA synchronous = OFF`
	db.Handle().SetMaxOpenConns(2)
	// The writer first: it takes a connection of its own, and the other
	// one is then the pool's.
	if err := db.ExecOnWriter(context.Background(), pragma); err != nil {
		tb.Fatal(err)
	}
	exec(tb, db, pragma)
}

// Checkpoint copies db's write-ahead log into its file (mode: PASSIVE,
// FULL or TRUNCATE), so that the file alone holds what was written.
func Checkpoint(tb testing.TB, db *sqlite.DB, mode string) {
	tb.Helper()
	exec(tb, db, `PRAGMA wal_checkpoint(`+mode+`)`)
}

// SetSchemaVersion sets the schema version db says it has.
func SetSchemaVersion(tb testing.TB, db *sqlite.DB, v int) {
	tb.Helper()
	exec(tb, db, fmt.Sprintf(`PRAGMA user_version = %d`, v))
}

// CheckIntegrity fails tb unless SQLite finds db's file sound.
func CheckIntegrity(tb testing.TB, db *sqlite.DB) {
	tb.Helper()
	var ok string
	if err := db.Handle().QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		tb.Fatalf("integrity check: %q, %v", ok, err)
	}
}

// Schema describes the file at path as SQLite has it, without writing it:
// its schema version, application id and every table, index and trigger
// with the SQL that made it.
func Schema(tb testing.TB, path string) string {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&immutable=1")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var version, id int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		tb.Fatal(err)
	}
	if err := db.QueryRow(`PRAGMA application_id`).Scan(&id); err != nil {
		tb.Fatal(err)
	}
	b := fmt.Appendf(nil, "user_version %d, application_id %#x\n", version, id)
	rows, err := db.Query(`SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema ORDER BY type, name`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var typ, name, table, stmt string
		if err := rows.Scan(&typ, &name, &table, &stmt); err != nil {
			tb.Fatal(err)
		}
		b = fmt.Appendf(b, "%s %s on %s: %s\n", typ, name, table, stmt)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// Where selects rows: each column equal to its value. Empty selects all.
type Where map[string]any

// sql returns the WHERE clause of w, columns in order, and its arguments.
func (w Where) sql() (string, []any) {
	if len(w) == 0 {
		return "", nil
	}
	var terms []string
	var args []any
	for _, c := range slices.Sorted(maps.Keys(w)) {
		terms, args = append(terms, c+" = ?"), append(args, w[c])
	}
	return " WHERE " + strings.Join(terms, " AND "), args
}

// Count returns the number of rows of table that where selects.
func Count(tb testing.TB, db *sqlite.DB, table string, where Where) int {
	tb.Helper()
	w, args := where.sql()
	var n int
	if err := db.Handle().QueryRow(`SELECT count(*) FROM `+table+w, args...).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// Set sets columns of the rows of table that where selects, each to its
// value (nil for NULL), and returns how many rows changed.
func Set(tb testing.TB, db *sqlite.DB, table string, set map[string]any, where Where) int64 {
	tb.Helper()
	var assign []string
	var args []any
	for _, c := range slices.Sorted(maps.Keys(set)) {
		assign, args = append(assign, c+" = ?"), append(args, set[c])
	}
	w, wargs := where.sql()
	return exec(tb, db, `UPDATE `+table+` SET `+strings.Join(assign, ", ")+w, append(args, wargs...)...)
}

// Delete deletes the rows of table that where selects and returns how many.
func Delete(tb testing.TB, db *sqlite.DB, table string, where Where) int64 {
	tb.Helper()
	w, args := where.sql()
	return exec(tb, db, `DELETE FROM `+table+w, args...)
}

// InsertMany inserts n rows into table in one transaction, row(i) giving
// the values of columns for the i-th.
func InsertMany(tb testing.TB, db *sqlite.DB, table string, columns []string, n int, row func(i int) []any) {
	tb.Helper()
	ctx := context.Background()
	tx, err := db.Handle().BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO `+table+` (`+strings.Join(columns, ", ")+`) VALUES (`+
		strings.TrimSuffix(strings.Repeat("?, ", len(columns)), ", ")+`)`)
	if err != nil {
		tb.Fatal(err)
	}
	defer stmt.Close()
	for i := range n {
		if _, err := stmt.ExecContext(ctx, row(i)...); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

// Insert inserts a row into table, with values for the columns it names.
func Insert(tb testing.TB, db *sqlite.DB, table string, values map[string]any) {
	tb.Helper()
	columns := slices.Sorted(maps.Keys(values))
	args := make([]any, len(columns))
	for i, c := range columns {
		args[i] = values[c]
	}
	exec(tb, db, `INSERT INTO `+table+` (`+strings.Join(columns, ", ")+`) VALUES (`+
		strings.TrimSuffix(strings.Repeat("?, ", len(columns)), ", ")+`)`, args...)
}

// Refuse has db refuse, with the error "poisoned record", every row
// inserted into table whose column holds value: a failure of one insert
// among others. It returns a function that lifts the refusal.
func Refuse(tb testing.TB, db *sqlite.DB, table, column string, value any) (lift func()) {
	tb.Helper()
	trigger := "poison_" + table
	exec(tb, db, `CREATE TRIGGER `+trigger+` BEFORE INSERT ON `+table+` WHEN NEW.`+column+` = `+quote(value)+`
		BEGIN SELECT RAISE(ABORT, 'poisoned record'); END`)
	return func() {
		tb.Helper()
		exec(tb, db, `DROP TRIGGER `+trigger)
	}
}

// Downgrade turns db back into a database of the writ before key rows were
// bound to the master key (schema version 3): it undoes the migration of
// the console's sessions (9), that of the usage summaries (8), migration
// 7, which
// added the tokens' revoked_at, migration 6, which added the tokens' name
// index, migration 5, which added the tokens'
// description, allowed_ips and parent, and migration 4, which added the
// keys' mac column. Set the master-key check value of that writ too
// (keys.SealUnboundCheck) to finish the job.
func Downgrade(tb testing.TB, db *sqlite.DB) {
	tb.Helper()
	exec(tb, db, `DROP TABLE console_sessions;
		DROP TABLE usage_networks;
		DROP TABLE usage_clients;
		DROP TABLE usage_days;
		DROP TABLE usage_reasons;
		DROP TABLE usage_tokens;
		ALTER TABLE tokens DROP COLUMN revoked_at;
		DROP INDEX tokens_name;
		DROP INDEX tokens_parent;
		ALTER TABLE tokens DROP COLUMN description;
		ALTER TABLE tokens DROP COLUMN allowed_ips;
		ALTER TABLE tokens DROP COLUMN parent;
		ALTER TABLE keys DROP COLUMN mac`)
	SetSchemaVersion(tb, db, 3)
}

// CountDeletes has db count the statements that delete rows of table, and
// returns a function that reads the count.
func CountDeletes(tb testing.TB, db *sqlite.DB, table string) func() int {
	tb.Helper()
	exec(tb, db, `CREATE TABLE deletes_`+table+` (n INTEGER);
		CREATE TRIGGER count_deletes_`+table+` AFTER DELETE ON `+table+` BEGIN INSERT INTO deletes_`+table+` VALUES (1); END`)
	return func() int {
		tb.Helper()
		return Count(tb, db, "deletes_"+table, nil)
	}
}

// quote returns v as an SQL literal: a string or an integer.
func quote(v any) string {
	switch v := v.(type) {
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case int, int64:
		return fmt.Sprint(v)
	}
	panic(fmt.Sprintf("sqlitetest: no literal for %T", v))
}

// Foreign creates at path the database of another program: SQLite, with
// a table of its own.
func Foreign(tb testing.TB, path string) {
	tb.Helper()
	raw(tb, path, `CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine')`)
}

// LookAlike creates at path the database of another program that has the
// schema version and table names of writ's at version, but not its
// columns.
func LookAlike(tb testing.TB, path string, version int) {
	tb.Helper()
	raw(tb, path, fmt.Sprintf(`PRAGMA user_version = %d;
		CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB);
		CREATE TABLE keys (id INTEGER PRIMARY KEY);
		CREATE TABLE tokens (id INTEGER PRIMARY KEY);`, version))
}

// raw runs stmts on a file of its own, as any SQLite program would.
func raw(tb testing.TB, path, stmts string) {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmts); err != nil {
		tb.Fatal(err)
	}
}

func exec(tb testing.TB, db *sqlite.DB, query string, args ...any) int64 {
	tb.Helper()
	res, err := db.Handle().Exec(query, args...)
	if err != nil {
		tb.Fatal(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
