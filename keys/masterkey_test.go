package keys_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/writ-dev/writ/internal/fsperm"
	"github.com/writ-dev/writ/keys"
)

// TestReadMasterKeyFileOwner: a master key file is read only if it is
// this user's own, however the path reaches it: root could read another
// user's 0600 file, whose owner knows the key.
func TestReadMasterKeyFileOwner(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "writ.key")
	if _, err := keys.GenerateMasterKeyFile(path); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.key")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.ReadMasterKeyFile(link); err != nil {
		t.Errorf("through a link to a key file of one's own: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.ReadMasterKeyFile(link); !errors.Is(err, fsperm.ErrNotPrivate) {
		t.Errorf("through a link to a key file with mode 0644: %v, want fsperm.ErrNotPrivate", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		t.Skip("only root can give a file to another user")
	}
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, link} {
		if _, err := keys.ReadMasterKeyFile(p); !errors.Is(err, fsperm.ErrNotPrivate) {
			t.Errorf("%s owned by another user: %v, want fsperm.ErrNotPrivate", filepath.Base(p), err)
		}
	}
}
