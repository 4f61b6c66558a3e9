package writ

import (
	"context"

	"github.com/writ-dev/writ/internal/store"
)

// BackupFile writes a consistent copy of the database at path to a new
// file at to (mode 0600; an existing file is an error) while the database
// is in use, as writ backup does: what DB.Backup does, without the master
// key, since the copy holds the keys sealed as they are. It opens the
// database only to read it (see Config.ReadOnlyOK).
func BackupFile(ctx context.Context, path, to string) error {
	db, err := store.OpenForReading(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	return store.Backup(ctx, db, to)
}
