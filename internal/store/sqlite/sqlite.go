// Package sqlite is writ's SQLite engine: the schema and its migrations,
// every SQL statement writ runs, its transactions, backups and the checks
// on the database file. [DB] implements [store.Store].
//
// Every connection that writes runs in WAL mode with synchronous=FULL, so a
// transaction that has committed survives a crash of the process or the
// machine (a reader keeps the journal mode the file has); write
// transactions begin IMMEDIATE and wait up to BusyTimeout for another
// writer, so concurrent processes queue instead of failing with "database is
// locked". The schema is versioned with PRAGMA user_version and migrated
// forward in one transaction; a database from a newer writ is refused.
//
// A writ database says so in its header (PRAGMA application_id). Before
// anything writes a file, it is checked without writing it: another
// program's database, or any file that is not writ's, is refused and left as
// it was. A database made before writ set its application_id is writ's only
// if it has exactly the tables and columns of writ's schema at its version.
// A process that writes the database also refuses one that others than its
// owner may read, with its -wal and -shm files (see package fsperm); the
// files it creates are 0600 whatever the umask.
package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/writ-dev/writ/internal/fsperm"
	"github.com/writ-dev/writ/internal/store"
)

// BusyTimeout is how long a connection waits for another writer.
const BusyTimeout = 10 * time.Second

// The errors of the store contract that opening a database returns.
var (
	// ErrNoDatabase: the file does not exist and creation was not asked for.
	ErrNoDatabase = store.ErrNoDatabase
	// ErrNewerSchema: a newer writ wrote the database.
	ErrNewerSchema = store.ErrNewerSchema
	// ErrNotWrit: a file that is not a writ database: another program's
	// SQLite database, a file that is not SQLite, or an empty file where a
	// database must already exist. Such a file is left as it was.
	ErrNotWrit = store.ErrNotWrit
)

// applicationID is the PRAGMA application_id of every writ database:
// "writ" in ASCII.
const applicationID = 0x77726974

// IsReadOnly reports whether err is SQLite refusing to write because the
// database file, or the directory where SQLite keeps its -wal and -shm
// files, is read-only for this process.
func IsReadOnly(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_READONLY
}

// Open opens the database at path, creating it (mode 0600) when create is
// set, and migrates its schema to the current version. With create, an
// empty file becomes a new database.
//
// It follows symbolic links, but it refuses a file that is not writ's
// (ErrNotWrit), or that it would write where others may read it
// (fsperm.ErrNotPrivate): the file path reaches and any -wal, -shm or
// -journal file beside it must be this user's, with mode 0600 or narrower.
// It never creates a database through a symbolic link.
func Open(ctx context.Context, path string, create bool) (*DB, error) {
	file, err := resolve(path)
	if errors.Is(err, ErrNoDatabase) && create {
		if _, lerr := os.Lstat(path); lerr == nil {
			return nil, fmt.Errorf("%w at %q: it is a symbolic link to a missing file, and writ creates no database through a link", ErrNoDatabase, path)
		}
		if err = createDatabase(ctx, path); err == nil {
			file, err = resolve(path)
		}
	}
	if err != nil {
		return nil, err
	}
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		fi, err := os.Stat(file + suffix)
		if suffix != "" && errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil {
			err = fsperm.Check(file+suffix, fi)
		}
		if err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
	}
	info, err := identify(ctx, file)
	if err == nil && info.empty && !create {
		err = fmt.Errorf("%w: the file is empty", ErrNotWrit)
	}
	if err != nil {
		return nil, fmt.Errorf("database %q: %w", path, err)
	}
	db, err := openDB(file, writing)
	if err != nil {
		return nil, err
	}
	if err := errors.Join(migrate(ctx, db), renewRestoredEpoch(ctx, db)); err != nil {
		db.Close()
		return nil, fmt.Errorf("database %q: %w", path, err)
	}
	return newDB(db), nil
}

// restoredCopy names the meta row that marks a backup: a file that, once
// restored, is the database of a list other than the one backed up.
const restoredCopy = "backup_copy"

// renewRestoredEpoch gives a backup, when a process first opens it to
// write, a revocation epoch of its own, and unmarks it. A backup restored
// twice (copied into place, written, then copied again) is then two lists
// to verifiers, not one whose sequence numbers name other revocations
// each time.
func renewRestoredEpoch(ctx context.Context, db *sql.DB) error {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM meta WHERE name = '`+restoredCopy+`'`).Scan(&n); err != nil || n == 0 {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Renewed once, by the first of several processes opening it at once.
	res, err := tx.ExecContext(ctx, `DELETE FROM meta WHERE name = '`+restoredCopy+`'`)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = randomblob(16) WHERE name = '`+store.MetaRevocationEpoch+`'`); err != nil {
		return err
	}
	return tx.Commit()
}

// resolve returns the file that path reaches through any symbolic links,
// which is what is checked and what SQLite opens (it keeps the -wal and
// -shm files beside that file), so that a link changed meanwhile does not
// lead SQLite elsewhere. A path that reaches no file is ErrNoDatabase.
func resolve(path string) (string, error) {
	file, err := filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w at %q", ErrNoDatabase, path)
	} else if err != nil {
		return "", fmt.Errorf("open database: %w", err)
	}
	return file, nil
}

// fileInfo is what identify learns of a file from its header and its
// checkpointed schema, without writing it.
type fileInfo struct {
	empty   bool // an empty file
	legacy  bool // a writ database made before writ set its application_id
	version int  // PRAGMA user_version in the header
	wal     bool // in WAL mode, as writ keeps its databases
}

// identify tells whether the file at path is a writ database, or an empty
// file, without writing it or creating any file beside it. A writ database
// carries writ's application_id; one made before writ set it carries none,
// a schema version this writ knows and exactly the tables and columns that
// writ's migrations up to that version make.
func identify(ctx context.Context, path string) (fileInfo, error) {
	// Opening a FIFO would wait for a writer.
	if fi, err := os.Stat(path); err != nil {
		return fileInfo{}, err
	} else if !fi.Mode().IsRegular() {
		return fileInfo{}, fmt.Errorf("%w: not a regular file (%s)", ErrNotWrit, fi.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return fileInfo{}, err
	}
	var header [100]byte
	n, err := io.ReadFull(f, header[:])
	f.Close()
	switch {
	case n == 0 && err == io.EOF:
		return fileInfo{empty: true}, nil
	case errors.Is(err, io.ErrUnexpectedEOF) || err == nil && !bytes.HasPrefix(header[:], []byte("SQLite format 3\x00")):
		return fileInfo{}, fmt.Errorf("%w: not a SQLite database", ErrNotWrit)
	case err != nil:
		return fileInfo{}, err
	}
	info := fileInfo{
		version: int(binary.BigEndian.Uint32(header[60:])),
		// The file format's write and read versions are 2 in WAL mode.
		wal: header[18] == 2 && header[19] == 2,
	}
	switch id := binary.BigEndian.Uint32(header[68:]); id {
	case applicationID:
		return info, nil
	case 0:
		info.legacy = true
	default:
		return fileInfo{}, fmt.Errorf("%w: a SQLite database of another application (application_id %#x)", ErrNotWrit, id)
	}
	if info.version == 0 || info.version > len(migrations) {
		return fileInfo{}, fmt.Errorf("%w: a SQLite database of another application (user_version %d)", ErrNotWrit, info.version)
	}
	// immutable: SQLite reads the file alone, taking no lock and creating
	// no -wal or -shm file. A database made before writ set its
	// application_id has had its tables checkpointed into the file.
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro&immutable=1")
	if err != nil {
		return fileInfo{}, err
	}
	defer db.Close()
	have, err := tables(ctx, db)
	if err != nil {
		return fileInfo{}, err
	}
	want, err := migratedTables(ctx, info.version)
	if err != nil {
		return fileInfo{}, err
	}
	if have != want {
		return fileInfo{}, fmt.Errorf("%w: a SQLite database of another application (not the tables of writ's schema version %d)", ErrNotWrit, info.version)
	}
	return info, nil
}

// tables describes the tables of db, and their columns, one line each.
func tables(ctx context.Context, db *sql.DB) (string, error) {
	rows, err := db.QueryContext(ctx, `SELECT m.name, p.name, p.type, p."notnull", ifnull(p.dflt_value, 'NULL'), p.pk
		FROM sqlite_schema AS m, pragma_table_info(m.name) AS p
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
		ORDER BY m.name, p.cid`)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var table, column, typ, dflt string
		var notNull, pk int
		if err := rows.Scan(&table, &column, &typ, &notNull, &dflt, &pk); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%q %q %q %d %q %d\n", table, column, typ, notNull, dflt, pk)
	}
	return b.String(), rows.Err()
}

// migratedTables describes, as tables does, the tables that migrations
// 1 to version make, in a database of its own in memory.
func migratedTables(ctx context.Context, version int) (string, error) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		return "", err
	}
	defer db.Close()
	// One connection: each connection to :memory: is a database of its own.
	db.SetMaxOpenConns(1)
	for _, m := range migrations[:version] {
		if _, err := db.ExecContext(ctx, m); err != nil {
			return "", err
		}
	}
	return tables(ctx, db)
}

// Backup writes a consistent copy of the database to a new file at path
// (mode 0600), while other connections and processes go on reading and
// writing: SQLite's VACUUM INTO copies one read transaction's snapshot,
// compacted. The copy holds sealed private keys but not the master key
// that opens them.
//
// The copy gets a revocation epoch of its own: once it is restored,
// verifiers that followed the original see the epoch change and read the
// whole list again, instead of asking for changes after a sequence number
// that the copy may reuse for other revocations; and another each time it
// is restored, drawn by the first process that opens it to write (see
// renewRestoredEpoch). It is made under a temporary name and linked into
// place only then, so that path never holds a copy with the original's
// epoch. A database copied by other means keeps its epoch: restore only
// backups.
func (d *DB) Backup(ctx context.Context, path string) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("backup: %w", &os.PathError{Op: "create", Path: path, Err: os.ErrExist})
	}
	err := beside(path, func(tmp string) error {
		// VACUUM INTO fills the empty file, keeping its mode.
		if _, err := d.db.ExecContext(ctx, "VACUUM INTO ?", tmp); err != nil {
			return err
		}
		cp, err := openDB(tmp, writing)
		if err != nil {
			return err
		}
		_, err = cp.ExecContext(ctx, `UPDATE meta SET value = randomblob(16) WHERE name = '`+store.MetaRevocationEpoch+`';
			INSERT INTO meta (name, value) VALUES ('`+restoredCopy+`', x'01') ON CONFLICT DO NOTHING`)
		if err := errors.Join(err, cp.Close()); err != nil {
			return err
		}
		return place(tmp, path)
	})
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// CreateFilled makes a new database at path, which must not exist, and
// has fill write it before anyone else can open it: the database is made
// under a temporary name beside path (mode 0600) and linked into place
// only once fill has returned nil and the database is closed, so that
// path never holds a half-made database, and nothing is left of one that
// fill failed to make. fill must not keep db.
//
// Like a backup, the database is marked to draw a revocation epoch of
// its own when a process first opens it to write (see Backup), so that
// restoring it more than once gives lists that verifiers tell apart.
func CreateFilled(ctx context.Context, path string, fill func(db *DB) error) error {
	if _, err := os.Lstat(path); err == nil {
		return &os.PathError{Op: "create database", Path: path, Err: os.ErrExist}
	}
	err := beside(path, func(tmp string) error {
		db, err := Open(ctx, tmp, true)
		if err != nil {
			return err
		}
		err = fill(db)
		if err == nil {
			_, err = db.db.ExecContext(ctx, `INSERT INTO meta (name, value) VALUES ('`+restoredCopy+`', x'01') ON CONFLICT DO NOTHING`)
		}
		// Closing the last connection checkpoints the WAL into the file
		// and removes it, so the one file placed below holds everything.
		if err := errors.Join(err, db.Close()); err != nil {
			return err
		}
		return place(tmp, path)
	})
	if err != nil {
		return fmt.Errorf("create database %q: %w", path, err)
	}
	return nil
}

// place gives the file tmp the name path, which must not exist: a hard
// link where the file system has them, else a rename over an empty file
// made to reserve the name.
func place(tmp, path string) error {
	err := os.Link(tmp, path)
	if err != nil && !errors.Is(err, os.ErrExist) {
		var f *os.File
		if f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
			f.Close()
			if err = os.Rename(tmp, path); err != nil {
				os.Remove(path)
			}
		}
	}
	return err
}

// beside makes an empty file (mode 0600) next to path under a temporary
// name, and calls build with that name, which links or renames it into
// place. Whatever build did, the temporary name and the -wal and -shm files
// SQLite may have left beside it are removed afterwards.
func beside(path string, build func(tmp string) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".incomplete-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(tmp + suffix)
		}
	}()
	if err := f.Close(); err != nil {
		return err
	}
	return build(tmp)
}

// OpenForReading opens an existing database for a process that only reads
// it and may not be allowed to write it: read-write when it may, so that
// closing it removes SQLite's -wal and -shm files, else read-only
// (OpenReadOnly), which leaves files it had to create behind. It writes
// nothing: a file that is not writ's is refused (ErrNotWrit) and left as
// it was, and a schema that is not current is refused, not migrated.
func OpenForReading(ctx context.Context, path string) (*DB, error) {
	db, err := openExisting(ctx, path, false)
	if err != nil {
		return nil, err
	}
	return newDB(db), nil
}

// OpenReadOnly opens an existing database for reading only. It never
// writes the database, so it works where the database is read-only for this
// process, provided SQLite can read it: a WAL database needs its -wal and
// -shm files to exist (they do while a writer has it open) or to be
// creatable in its directory. The file must be a writ database
// (ErrNotWrit) and its schema current (any writ with write access migrates
// it on open).
func OpenReadOnly(ctx context.Context, path string) (*DB, error) {
	db, err := openExisting(ctx, path, true)
	if err != nil {
		return nil, err
	}
	return newDB(db), nil
}

// openExisting opens a writ database at the current schema for reading,
// read-write unless readOnly is set or the process may not write it.
//
// Whether the file is writ's is decided on the file as it is, before any
// handle that could write it is opened. A reader keeps the file's journal
// mode: it never switches a database to WAL mode. It writes nothing at all
// to a database made before writ set its application_id, which only a
// writer migrates.
func openExisting(ctx context.Context, path string, readOnly bool) (*sql.DB, error) {
	file, err := resolve(path)
	if err != nil {
		return nil, err
	}
	info, err := identify(ctx, file)
	switch {
	case err != nil:
	case info.empty:
		err = fmt.Errorf("%w: the file is empty", ErrNotWrit)
	case info.legacy && hasLog(file):
		// identify judged the file alone; reading it with its log would
		// take what the log holds unjudged, and closing would checkpoint
		// it into the file.
		err = errors.New("a database of an older writ with a write-ahead log it has not checkpointed: run any writ command with write access to bring it up to date")
	case info.legacy || !info.wal:
		// Without a WAL, or before writ set its application_id, the
		// header's schema version is the database's.
		err = current(info.version)
	}
	if err != nil {
		return nil, fmt.Errorf("database %q: %w", path, err)
	}
	mode := reading
	switch {
	case readOnly:
		mode = readingOnly
	case info.legacy:
		mode = readingQueryOnly
	}
	db, err := openDB(file, mode)
	if err != nil {
		return nil, err
	}
	var version int
	err = db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version)
	switch {
	case IsReadOnly(err) && !readOnly:
		db.Close()
		return openExisting(ctx, path, true)
	case err == nil:
		err = current(version)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("database %q: %w", path, err)
	}
	return db, nil
}

// hasLog reports whether file has a write-ahead log that is not empty.
func hasLog(file string) bool {
	fi, err := os.Stat(file + "-wal")
	return err == nil && fi.Size() > 0
}

// current returns an error unless version is the current schema version.
func current(version int) error {
	switch {
	case version > len(migrations):
		return fmt.Errorf("%w: version %d, this writ knows up to %d", ErrNewerSchema, version, len(migrations))
	case version < len(migrations):
		return fmt.Errorf("schema version %d is older than this writ's %d: run any writ command with write access to migrate it", version, len(migrations))
	}
	return nil
}

// createDatabase builds a new database beside path, already in WAL mode and
// at the current schema, and links it into place; if another process linked
// one first, theirs is kept. Nobody ever opens a half-made database at path:
// several connections switching one new file from rollback to WAL mode at
// once can get SQLITE_BUSY without SQLite's busy handler being consulted.
func createDatabase(ctx context.Context, path string) error {
	err := beside(path, func(tmp string) error {
		db, err := openDB(tmp, writing)
		if err != nil {
			return err
		}
		// Closing the last connection checkpoints the WAL into the file
		// and removes it, so the one file linked below holds everything.
		if err := errors.Join(migrate(ctx, db), db.Close()); err != nil {
			return err
		}
		if err := os.Link(tmp, path); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create database %q: %w", path, err)
	}
	return nil
}

// access is how openDB opens a database.
type access int

const (
	// writing: read-write, switching the database to WAL mode.
	writing access = iota
	// reading: read-write, so that closing the database removes SQLite's
	// -wal and -shm files, in the journal mode the file has.
	reading
	// readingQueryOnly: as reading, but SQLite refuses every change.
	readingQueryOnly
	// readingOnly: SQLite's read-only mode.
	readingOnly
)

func openDB(path string, mode access) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()))
	switch mode {
	case readingOnly:
		// SQLite's own read-only mode: it reads a WAL database through a
		// -shm file it may only read.
		q.Set("mode", "ro")
	case readingQueryOnly:
		q.Add("_pragma", "query_only(1)")
	default:
		if mode == writing {
			q.Add("_pragma", "journal_mode(WAL)")
		}
		q.Add("_pragma", "synchronous(FULL)")
		q.Add("_pragma", "foreign_keys(1)")
		// Deleted content is overwritten, not left in free space: a
		// retired key's sealed private half must be gone.
		q.Add("_pragma", "secure_delete(1)")
		q.Set("_txlock", "immediate")
	}
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database %q: %w", path, err)
	}
	// database/sql keeps two idle connections by default: under concurrent
	// requests it would open and close connections, each running the
	// pragmas above, over and over.
	db.SetMaxIdleConns(maxIdleConns)
	return db, nil
}

// maxIdleConns is how many open connections a database keeps for reuse.
const maxIdleConns = 8
