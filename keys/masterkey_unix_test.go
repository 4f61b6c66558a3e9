//go:build unix

package keys_test

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/fsperm"
	"github.com/writ-dev/writ/keys"
)

// TestReadMasterKeyFileFIFO: a named pipe as the master key file is
// refused at once, not waited on for a writer that never comes.
func TestReadMasterKeyFileFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo.key")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := keys.ReadMasterKeyFile(path)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, fsperm.ErrNotPrivate) {
			t.Errorf("got %v, want fsperm.ErrNotPrivate", err)
		}
	case <-time.After(time.Minute): // only a hang detector
		t.Fatal("ReadMasterKeyFile is still waiting on the named pipe")
	}
}
