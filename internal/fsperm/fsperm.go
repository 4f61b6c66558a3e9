// Package fsperm checks that a file holding writ's secrets is its owner's
// alone, however its path was reached: the database, its -wal and -shm
// files, and the master key file.
package fsperm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrNotPrivate reports a file that others than its owner may read or
// write, that another user owns, or that is not a regular file.
var ErrNotPrivate = errors.New("file is not private to its owner")

// Check returns an error wrapping ErrNotPrivate unless fi, which describes
// the file at path after any symbolic links, is a regular file of this
// process's effective user with no permission bits for group or others.
// The owner matters to root, who may write a file that another user can
// read whatever its mode says.
func Check(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %q is not a regular file (%s)", ErrNotPrivate, path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: %q has mode %#o: it must be readable by its owner only (chmod 600 %s)", ErrNotPrivate, path, perm, path)
	}
	if uid, ok := owner(fi); ok && uid != os.Geteuid() {
		return fmt.Errorf("%w: %q belongs to user %d, not to this user (%d): run writ as its owner", ErrNotPrivate, path, uid, os.Geteuid())
	}
	return nil
}
