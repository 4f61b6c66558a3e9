package writ

import (
	"errors"

	"github.com/writ-dev/writ/internal/fsperm"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/storecopy"
)

var (
	// ErrNoDatabase is returned by Open for a missing database when
	// Config.Create is unset.
	ErrNoDatabase = store.ErrNoDatabase
	// ErrNewerSchema is returned by Open for a database written by a newer
	// writ.
	ErrNewerSchema = store.ErrNewerSchema
	// ErrNotWritDatabase is returned by Open for a file that is not a writ
	// database (another program's SQLite file, a file that is not SQLite,
	// an empty file unless Config.Create is set). Open leaves it as it was.
	ErrNotWritDatabase = store.ErrNotWrit
	// ErrNotPrivate is returned by Open, to write a database, for a
	// database file, or its -wal or -shm file, that others than its owner
	// may read, or that another user owns; and by keys.ReadMasterKeyFile
	// for such a master key file (keys.ErrNotPrivate is the same error).
	ErrNotPrivate = fsperm.ErrNotPrivate
	// ErrNoMasterKeyFile is returned by Init for a database that exists
	// while its master key file does not: Init creates a master key only
	// with a new database, since a new key would open none of the existing
	// one's keys.
	ErrNoMasterKeyFile = errors.New("writ: no master key file")
	// ErrNotEmpty is returned by CopyDatabase for a destination that
	// holds rows already: a copy makes a new database.
	ErrNotEmpty = storecopy.ErrNotEmpty
	// ErrSameDatabase is returned by CopyDatabase when the destination is
	// the source itself.
	ErrSameDatabase = storecopy.ErrSameDatabase
	// ErrCopyMismatch is returned by CopyDatabase when the destination,
	// read again after the copy, does not hold what was read from the
	// source; nothing was committed.
	ErrCopyMismatch = storecopy.ErrMismatch
	// ErrNoMasterKeyForURL is returned by Init for a PostgreSQL database
	// (Config.URL) without Config.MasterKey or InitConfig.MasterKeyFile:
	// there is no database file to keep the key beside.
	ErrNoMasterKeyForURL = errors.New("writ: a PostgreSQL database needs its master key given: there is no database file to keep it beside")
)
