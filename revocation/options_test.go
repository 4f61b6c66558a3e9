package revocation_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/text"
	"github.com/writ-dev/writ/revocation"
)

// TestOptionsPlainText: a reason or actor that could hide, reorder or forge
// what a reader of the list or the audit log sees is refused, whatever is
// revoked, and nothing is recorded.
func TestOptionsPlainText(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok := e.issue(t, "alice", time.Hour)
	for name, o := range map[string]revocation.Options{
		"reason with a newline":            {Reason: "offboarded\n2026-01-01 admin restored alice"},
		"reason with ESC":                  {Reason: "\x1b[2Jgone"},
		"reason with a right-to-left mark": {Reason: "gone\u202e"},
		"reason with a zero width space":   {Reason: "go\u200bne"},
		"reason with a line separator":     {Reason: "gone\u2028x"},
		"reason of invalid UTF-8":          {Reason: "gone\xff"},
		"reason of 60 KB":                  {Reason: strings.Repeat("a", 60<<10)},
		"reason one byte too long":         {Reason: strings.Repeat("a", revocation.MaxReason+1)},
		"actor with a paragraph separator": {Reason: "gone", Actor: "cli:ops\u2029"},
		"actor with a carriage return":     {Actor: "cli:ops\r"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := o.Check(); !errors.Is(err, revocation.ErrInvalid) || !errors.Is(err, text.ErrNotPlain) {
				t.Errorf("Check: %v, want ErrInvalid and text.ErrNotPlain", err)
			}
			for what, revoke := range map[string]func() error{
				"token":   func() error { _, err := e.list.RevokeToken(ctx, tok.ID, o); return err },
				"subject": func() error { _, err := e.list.RevokeSubject(ctx, "alice", time.Time{}, o); return err },
				"key":     func() error { _, err := e.list.RevokeKey(ctx, tok.KeyID, o); return err },
			} {
				if err := revoke(); !errors.Is(err, revocation.ErrInvalid) || !errors.Is(err, text.ErrNotPlain) {
					t.Errorf("revoke %s: %v, want ErrInvalid and text.ErrNotPlain", what, err)
				}
			}
		})
	}
	if entries, err := e.list.Entries(ctx, revocation.Filter{}); err != nil || len(entries) != 0 {
		t.Errorf("refused revocations left %d entries (%v)", len(entries), err)
	}
	// The longest reason, in any script, is fine.
	long := strings.Repeat("é", revocation.MaxReason/2)
	if _, err := e.list.RevokeToken(ctx, tok.ID, revocation.Options{Reason: long, Actor: "cli:zoë"}); err != nil {
		t.Errorf("a plain reason of %d bytes: %v", len(long), err)
	}
}
