package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// TestLogValuesArePlain: values that are neither strings nor errors, such
// as the list of untrusted kids, which a tamperer writes, are escaped too.
func TestLogValuesArePlain(t *testing.T) {
	const hostile = "evil\u009b31m\u202e\x1b[2J\nforged\u200b"
	var buf bytes.Buffer
	log := slog.New(plainLogs{slog.NewJSONHandler(&buf, nil)})
	log.Error("alarm",
		"kids", []string{"ok", hostile},
		"map", map[string]string{"k": hostile},
		"group", slog.GroupValue(slog.Any("inner", []string{hostile})))
	out := buf.String()
	if strings.ContainsAny(strings.TrimSuffix(out, "\n"), "\x1b\n\u009b\u202e\u200b") {
		t.Fatalf("log carries raw control or invisible characters: %q", out)
	}
	var rec struct {
		Kids  []string
		Group struct{ Inner []string }
	}
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("log line %q: %v", out, err)
	}
	want := `evil\u009b31m\u202e\x1b[2J\nforged\u200b`
	if len(rec.Kids) != 2 || rec.Kids[1] != want || len(rec.Group.Inner) != 1 || rec.Group.Inner[0] != want {
		t.Errorf("logged %+v, want the kids escaped as %q", rec, want)
	}
}
