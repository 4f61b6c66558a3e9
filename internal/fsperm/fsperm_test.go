package fsperm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode os.FileMode
		ok   bool
	}{{0o600, true}, {0o400, true}, {0o700, true}, {0o640, false}, {0o604, false}, {0o620, false}, {0o602, false}, {0o644, false}, {0o666, false}} {
		if err := os.Chmod(path, tc.mode); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		err = Check(path, fi)
		if tc.ok != (err == nil) || err != nil && (!errors.Is(err, ErrNotPrivate) || !strings.Contains(err.Error(), "chmod 600 "+path)) {
			t.Errorf("mode %#o: %v, want ok = %v", tc.mode, err, tc.ok)
		}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(dir, fi); !errors.Is(err, ErrNotPrivate) {
		t.Errorf("a directory: %v, want ErrNotPrivate", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("only root can give a file to another user")
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if fi, err = os.Stat(path); err != nil {
		t.Fatal(err)
	}
	if err := Check(path, fi); !errors.Is(err, ErrNotPrivate) || !strings.Contains(err.Error(), "belongs to user 65534") {
		t.Errorf("another user's file: %v, want ErrNotPrivate", err)
	}
}
