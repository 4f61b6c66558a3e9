package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditAndIdleUsage: a --before that is no event's id, a --limit
// under 1, and a --console-idle under a minute are usage errors (exit 2),
// before anything is opened: serve creates no database.
func TestAuditAndIdleUsage(t *testing.T) {
	db := newCLIDatabase(t)
	none := filepath.Join(t.TempDir(), "none.db")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "--db", db, "--before", "0"}, "--before 0: want the id of an event"},
		{[]string{"audit", "--db", db, "--before", "-1"}, "--before -1: want the id of an event"},
		{[]string{"audit", "--db", db, "--before", "1e3"}, `invalid argument "1e3" for "--before" flag`},
		{[]string{"audit", "--db", db, "--limit", "-1"}, "--limit -1: want 1 or more"},
		{[]string{"serve", "--db", none, "--addr", "127.0.0.1:0", "--console-idle", "0"}, "--console-idle 0s: want at least 1m0s"},
		{[]string{"serve", "--db", none, "--addr", "127.0.0.1:0", "--console-idle", "59s"}, "--console-idle 59s: want at least 1m0s"},
	} {
		t.Run(strings.Join(tt.args[2:], " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", tt.args...)
			if code != 2 || stdout != "" || !strings.HasPrefix(stderr, "writ: error: ") || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 naming %q", code, stdout, stderr, tt.want)
			}
		})
	}
	if _, err := os.Stat(none); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused serve made %s: %v", none, err)
	}
}
