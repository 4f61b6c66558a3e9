// Package text keeps the free text that people read plain: [Plain] refuses,
// at input, what could hide, reorder or forge what a reader sees, and
// [Escape] makes any string safe to print, for text already stored.
//
// Plain text is valid UTF-8 without characters of the Unicode categories
// Cc (controls: newline, ESC, DEL, C1), Cf (format: U+200B zero width
// space, U+202E right-to-left override, U+2066 isolates, U+FEFF), Zl and
// Zp (U+2028, U+2029: line and paragraph separators), Co (private use,
// whose glyphs depend on the font) and Cn (unassigned code points and
// noncharacters, which no reader can check), nor any other default
// ignorable code point (U+3164 Hangul filler, U+034F combining grapheme
// joiner, variation selectors), which fonts draw as nothing.
package text

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrNotPlain: a text is too long, or it is not plain (see the package
// comment).
var ErrNotPlain = errors.New("not plain text")

// Plain returns nil when s is plain and at most max bytes long, and an
// error wrapping ErrNotPlain that names the field what otherwise. The empty
// string is plain: whether a field is required is the caller's rule.
func Plain(what, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrNotPlain, what, max)
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, notPlain) {
		return fmt.Errorf("%w: %s %+q has control, invisible, unassigned or line-breaking characters, or invalid UTF-8", ErrNotPlain, what, s)
	}
	return nil
}

// Storable reports whether s is valid UTF-8 without a NUL byte: text that
// every storage engine keeps as it is (PostgreSQL refuses the others, even
// in a query). What writ stores passed Plain, which is stricter; input that
// is looked up, such as a jti in a URL or a filter, must be at least
// Storable, so that a lookup of text no row can hold answers "not found"
// or "bad request" rather than an engine's error.
func Storable(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// StorableURL reports whether the path of u and every name and value of
// its query, decoded, are Storable.
func StorableURL(u *url.URL) bool {
	if !Storable(u.Path) {
		return false
	}
	for k, vs := range u.Query() {
		if !Storable(k) {
			return false
		}
		for _, v := range vs {
			if !Storable(v) {
				return false
			}
		}
	}
	return true
}

// Escape returns s with each character that plain text may not hold
// written as a Go escape (\n, \x1b, \u202e) and each byte of invalid UTF-8
// as \xNN: safe to print on a terminal, on one line, as it is. A plain s
// is returned as is.
func Escape(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, notPlain) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case notPlain(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// notPlain reports whether r may not appear in plain text.
func notPlain(r rune) bool {
	// unicode.C holds Cc, Cf, Co, Cs and the unassigned code points.
	// U+2800, the blank Braille pattern, is a letter-like symbol that
	// prints as nothing: "dup" and "dup\u2800" would read alike.
	return r == '\u2800' || unicode.In(r, unicode.C, unicode.Zl, unicode.Zp, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
}

// EscapeJSON returns the JSON document b, as encoding/json writes it
// (valid UTF-8, ASCII controls but DEL escaped in strings), with every other
// character that plain text may not hold written as a \u escape (a
// surrogate pair above U+FFFF): the same document to any JSON reader, and
// safe to print on a terminal. b itself is returned when it has none.
func EscapeJSON(b []byte) []byte {
	if !bytes.ContainsFunc(b, escapedInJSON) {
		return b
	}
	out := make([]byte, 0, len(b)+32)
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if !escapedInJSON(r) || (r == utf8.RuneError && n == 1) {
			out = append(out, b[i:i+n]...)
		} else if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		} else {
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += n
	}
	return out
}

// escapedInJSON reports whether EscapeJSON escapes r: encoding/json leaves
// it raw, and plain text may not hold it. The other ASCII controls are
// JSON's own whitespace between values, or already escaped.
func escapedInJSON(r rune) bool {
	return (r >= utf8.RuneSelf || r == 0x7f) && notPlain(r)
}

// Distance is the Levenshtein distance between a and b, in bytes: the
// edits that turn one into the other, for suggesting the name that a
// mistyped one meant. Names are ASCII; its cost is len(a)·len(b).
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
