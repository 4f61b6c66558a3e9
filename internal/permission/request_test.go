package permission

import (
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	for s, want := range map[string][2]string{
		"orders:read":        {"orders", "read"},
		"orders/42:write":    {"orders/42", "write"},
		"repos/a.b/c-d:x_1":  {"repos/a.b/c-d", "x_1"},
		"billing/v2:export2": {"billing/v2", "export2"},
	} {
		r, a, err := ParseRequest(s)
		if err != nil || r != want[0] || a != want[1] {
			t.Errorf("ParseRequest(%q) = %q, %q, %v; want %q, %q", s, r, a, err, want[0], want[1])
		}
	}
	for s, msg := range map[string]string{
		"orders":                    "want RESOURCE:ACTION",
		"https://x.example/a:b":     "want RESOURCE:ACTION",
		"":                          "want RESOURCE:ACTION",
		"orders/*:read":             "no wildcards",
		"orders/**:read":            "no wildcards",
		"orders/../admin:read":      `"." and ".."`,
		"orders//42:read":           "segments",
		"/orders:read":              "segments",
		"orders/:read":              "segments",
		"orders:Read":               "action",
		"orders:":                   "action",
		":read":                     "segments",
		"orders/4%2F2:read":         "a segment holds only",
		"orders:read:write":         "a segment holds only",
		"orders/\x00:read":          "a segment holds only",
		"orders/\u00e9t\u00e9:read": "a segment holds only",
		"writ:admin":                "writ's own scopes are not permissions",
		"writ/x:read":               "writ's own scopes are not permissions",
	} {
		r, a, err := ParseRequest(s)
		if err == nil || !strings.Contains(err.Error(), msg) || r != "" || a != "" {
			t.Errorf("ParseRequest(%q) = %q, %q, %v; want an error saying %q", s, r, a, err, msg)
		}
	}
}
