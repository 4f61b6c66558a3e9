package text

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestPlain(t *testing.T) {
	for _, s := range []string{"", "alice", "Zoë Çelik", "ops@example.com", "東京", "a b", "café ☕", "\uFFFD"} {
		if err := Plain("name", s, 64); err != nil {
			t.Errorf("Plain(%q): %v", s, err)
		}
	}
	for name, s := range map[string]string{
		"newline":                "alice\nwrit: error: forged",
		"carriage return":        "a\rb",
		"tab":                    "a\tb",
		"ESC":                    "\x1b[31mred",
		"NUL":                    "a\x00b",
		"DEL":                    "a\x7fb",
		"C1 CSI":                 "a\u009b31m",
		"zero width space":       "ad\u200bmin",
		"right-to-left":          "abc\u202Efdp.exe",
		"isolate":                "a\u2066b",
		"byte order mark":        "\uFEFFadmin",
		"soft hyphen":            "ad\u00ADmin",
		"line separator":         "a\u2028b",
		"paragraph separator":    "a\u2029b",
		"invalid UTF-8":          "a\xffb",
		"truncated rune":         "a\xe2\x80",
		"Hangul filler":          "admin\u3164",
		"Hangul choseong filler": "a\u115fb",
		"Braille pattern blank":  "dup\u2800",
		"Khmer inherent vowel":   "a\u17b4b",
		"grapheme joiner":        "a\u034fb",
		"variation selector":     "a\ufe0fb",
		"unassigned":             "a\u0378b",
		"noncharacter":           "a\U0010FFFEb",
		"private use":            "a\ue000b",
		"too long":               strings.Repeat("a", 65),
	} {
		t.Run(name, func(t *testing.T) {
			err := Plain("name", s, 64)
			if !errors.Is(err, ErrNotPlain) {
				t.Fatalf("Plain(%q) = %v, want ErrNotPlain", s, err)
			}
			if strings.ContainsFunc(err.Error(), notPlain) || !strings.Contains(err.Error(), "name") {
				t.Errorf("error %q is not plain or does not name the field", err)
			}
		})
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"alice":                  "alice",
		"Zoë \\n":                "Zoë \\n",
		"a\nwrit: error: forged": `a\nwrit: error: forged`,
		"\x1b[2J\x1b[31mred":     `\x1b[2J\x1b[31mred`,
		"a\u009bb":               `a\u009bb`,
		"abc\u202Efdp":           `abc\u202efdp`,
		"a\u2028b\u2029":         `a\u2028b\u2029`,
		"a\xffb\xe2\x80":         `a\xffb\xe2\x80`,
		"\U000E0001tag":          `\U000e0001tag`,
		"admin\u3164":            `admin\u3164`,
	} {
		got := Escape(in)
		if got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
		if err := Plain("escaped", got, len(got)); err != nil {
			t.Errorf("Escape(%q) is not plain: %v", in, err)
		}
	}
}

func FuzzEscape(f *testing.F) {
	f.Add("a\x1b\n\u202e\xff")
	f.Fuzz(func(t *testing.T, s string) {
		e := Escape(s)
		if err := Plain("escaped", e, len(e)); err != nil {
			t.Fatalf("Escape(%q) = %q: %v", s, e, err)
		}
		if Plain("s", s, len(s)) == nil && e != s {
			t.Fatalf("Escape changed plain %q to %q", s, e)
		}
		// EscapeJSON: the same document, and nothing but structural
		// newlines that plain text may not hold.
		b, err := json.Marshal(map[string]string{"s": s})
		if err != nil {
			t.Fatal(err)
		}
		out := EscapeJSON(b)
		var want, back map[string]string
		if err := errors.Join(json.Unmarshal(b, &want), json.Unmarshal(out, &back)); err != nil || back["s"] != want["s"] {
			t.Fatalf("EscapeJSON(%s) = %s: read back %q, %v", b, out, back["s"], err)
		}
		if strings.ContainsFunc(string(out), notPlain) {
			t.Fatalf("EscapeJSON(%s) = %q is not plain", b, out)
		}
	})
}

func TestEscapeJSON(t *testing.T) {
	v := map[string]string{"sub": "a\u009b31m\u202eb\x1b\u3164c\U000E0001 Zoë ☕ \ufffd", "n": "plain"}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	out := EscapeJSON(b)
	if strings.ContainsFunc(string(out), func(r rune) bool { return r != '\n' && notPlain(r) }) {
		t.Errorf("EscapeJSON left characters that are not plain: %q", out)
	}
	if !strings.Contains(string(out), `a\u009b31m\u202eb\u001b\u3164c\udb40\udc01 Zoë ☕ �`) {
		t.Errorf("EscapeJSON(%s) = %s", b, out)
	}
	var back map[string]string
	if err := json.Unmarshal(out, &back); err != nil || back["sub"] != v["sub"] || back["n"] != "plain" {
		t.Errorf("EscapeJSON changed the document: %v %q", err, back)
	}
	if plain := []byte(`{"n": "Zoë"}`); &EscapeJSON(plain)[0] != &plain[0] {
		t.Error("EscapeJSON copied a plain document")
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"", "abc", 3}, {"abc", "", 3}, {"orders", "orders", 0},
		{"ordrs", "orders", 1}, {"wirte", "write", 2}, {"kitten", "sitting", 3}, {"read", "admin", 5},
	} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := Distance(tc.b, tc.a); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestStorable(t *testing.T) {
	for s, want := range map[string]bool{"": true, "alice": true, "é ü\n\x1b": true, "a\x00b": false, "\xff": false, "a\xc3": false} {
		if got := Storable(s); got != want {
			t.Errorf("Storable(%+q) = %v, want %v", s, got, want)
		}
	}
}
