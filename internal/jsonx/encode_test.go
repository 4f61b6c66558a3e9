package jsonx_test

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/writ-dev/writ/internal/jsonx"
)

func TestAppendString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`a"b\c/d`, `"a\"b\\c/d"`},
		{"\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"\x00\x01\x1f\x7f", `"\u0000\u0001\u001f` + "\x7f" + `"`},
		{"<a href='x'>&amp;</a>", `"\u003ca href='x'\u003e\u0026amp;\u003c/a\u003e"`},
		{"é日本😀", `"é日本😀"`},
		{"\u2027\u2028\u2029\u202a", `"` + "\u2027" + `\u2028\u2029` + "\u202a" + `"`},
		{"\ufffd", `"` + "\ufffd" + `"`}, // a valid U+FFFD is kept as it is
		{"a\xffb", `"a\ufffdb"`},
		{"\xe6\x97", `"\ufffd\ufffd"`},           // truncated: one U+FFFD per byte, as encoding/json
		{"\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`}, // an encoded surrogate
		{"\xc0\xaf", `"\ufffd\ufffd"`},           // overlong '/'
	} {
		got := string(jsonx.AppendString([]byte("x:"), tc.in))
		if got != "x:"+tc.want {
			t.Errorf("AppendString(%q) = %s, want %s", tc.in, got[2:], tc.want)
		}
		checkAppendString(t, tc.in)
	}
}

// checkAppendString checks the properties AppendString promises for s.
func checkAppendString(t *testing.T, s string) {
	t.Helper()
	got := jsonx.AppendString(nil, s)
	if !json.Valid(got) {
		t.Fatalf("AppendString(%q) = %s: invalid JSON", s, got)
	}
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("AppendString(%q) = %s, encoding/json writes %s", s, got, want)
	}
	if !utf8.ValidString(s) {
		return
	}
	var back string
	if err := json.Unmarshal(got, &back); err != nil || back != s {
		t.Fatalf("Unmarshal(AppendString(%q)) = %q, %v", s, back, err)
	}
	// writ's own reader gives it back too.
	err = jsonx.Members(append(append([]byte(`{"s":`), got...), '}'), func(_ []byte, v jsonx.Value) error {
		back, err = v.Str()
		return err
	})
	if err != nil || back != s {
		t.Fatalf("jsonx reads AppendString(%q) as %q, %v", s, back, err)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `"\`, "\x00\n\x1f", "<>&", "é\u2028\u2029", "a\xffb", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(checkAppendString)
}
