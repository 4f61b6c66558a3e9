package main

import (
	"strings"
	"testing"
)

// TestDurationFlagsBounded: a negative duration, or one so long that what
// writ adds to it would overflow, is a usage error naming the flag (exit
// 2), before anything is opened or changed: keys rotate --max-age=-1h does
// not rotate at once without --force, and serve --max-age=-5m does not
// publish max-age=-300.
func TestDurationFlagsBounded(t *testing.T) {
	db := newCLIDatabase(t)
	flags := []struct {
		command []string
		flag    string
	}{
		{[]string{"keys", "rotate"}, "max-age"},
		{[]string{"keys", "rotate"}, "publish-floor"},
		{[]string{"keys", "rotate", "--auto"}, "period"},
		{[]string{"serve", "--addr", "127.0.0.1:0"}, "max-age"},
		{[]string{"serve", "--addr", "127.0.0.1:0"}, "refresh"},
		{[]string{"serve", "--addr", "127.0.0.1:0"}, "rotation-period"},
		{[]string{"serve", "--addr", "127.0.0.1:0"}, "publish-floor"},
		{[]string{"serve", "--addr", "127.0.0.1:0"}, "shutdown-timeout"},
		{[]string{"serve", "--addr", "127.0.0.1:0"}, "console-idle"},
		{[]string{"publish", "published"}, "every"},
		{[]string{"token", "issue", "--subject", "alice", "--audience", "api"}, "ttl"},
		{[]string{"token", "regenerate", "n2Rk4Q"}, "grace"},
	}
	for _, f := range flags {
		values := []string{"-1h", "-5m", "-1ns", "2562047h47m16s", "87601h"}
		if f.flag == "grace" {
			// Bound by the old token's expiry (TestRevocationTimesBounded).
			values = values[:3]
		}
		for _, value := range values {
			args := append(append([]string{}, f.command...), "--db", db, "--"+f.flag+"="+value)
			t.Run(strings.Join(f.command[:2], " ")+" --"+f.flag+"="+value, func(t *testing.T) {
				code, stdout, stderr := runCLI(t, "", args...)
				if code != 2 || stdout != "" || !strings.Contains(stderr, "--"+f.flag) {
					t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and an error naming --%s", code, stdout, stderr, f.flag)
				}
			})
		}
	}
	// Nothing was rotated.
	_, out, _ := runCLI(t, "", "keys", "list", "--db", db)
	if strings.Contains(out, "retired") {
		t.Errorf("a key was retired:\n%s", out)
	}
}
