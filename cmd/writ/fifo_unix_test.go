//go:build unix

package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMasterKeyFIFORefused: a named pipe as the master key file is
// refused at once by every command that reads the key, init included,
// instead of waiting for a writer to the pipe.
func TestMasterKeyFIFORefused(t *testing.T) {
	db := newCLIDatabase(t)
	dir := filepath.Dir(db)
	fifo := filepath.Join(dir, "fifo.key")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"token list": {"token", "list", "--db", db},
		"keys list":  {"keys", "list", "--db", db},
		"init again": {"init", "--db", db},
		"init anew":  {"init", "--db", filepath.Join(dir, "new.db")},
	} {
		t.Run(name, func(t *testing.T) {
			type result struct {
				code   int
				stderr string
			}
			done := make(chan result, 1)
			go func() {
				code, _, stderr := runCLI(t, "", append(args, "--master-key-file", fifo)...)
				done <- result{code, stderr}
			}()
			select {
			case r := <-done:
				if r.code != 1 || !strings.Contains(r.stderr, "is not a regular file") {
					t.Errorf("exit %d, stderr %q; want exit 1 and the key file refused as not a regular file", r.code, r.stderr)
				}
			case <-time.After(time.Minute): // only a hang detector
				t.Fatal("writ is still waiting on the named pipe")
			}
		})
	}
}
