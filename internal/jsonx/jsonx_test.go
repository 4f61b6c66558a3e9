package jsonx_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/writ-dev/writ/internal/jsonx"
)

// member is one member as Members reports it: the unescaped name, the kind,
// and the value (unescaped for strings, raw text otherwise).
type member struct {
	name  string
	kind  jsonx.Kind
	value string
}

// members collects what Members reports for data.
func members(data []byte) ([]member, error) {
	var out []member
	err := jsonx.Members(data, func(name []byte, v jsonx.Value) error {
		m := member{name: string(name), kind: v.Kind, value: string(v.Raw())}
		if v.Kind == jsonx.String {
			s, err := v.Str()
			if err != nil {
				return err
			}
			m.value = s
		}
		out = append(out, m)
		return nil
	})
	return out, err
}

func TestMembersValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []member
	}{
		{"empty", `{}`, nil},
		{"whitespace", " \t\r\n{ \t\r\n} \t\r\n", nil},
		{"kinds", `{"s":"x","n":-1.5e+3,"o":{"a":[1]},"a":[1,"2",{}],"t":true,"f":false,"z":null}`, []member{
			{"s", jsonx.String, "x"}, {"n", jsonx.Number, "-1.5e+3"}, {"o", jsonx.Object, `{"a":[1]}`},
			{"a", jsonx.Array, `[1,"2",{}]`}, {"t", jsonx.Bool, "true"}, {"f", jsonx.Bool, "false"}, {"z", jsonx.Null, "null"},
		}},
		{"order kept", `{"b":1,"a":2}`, []member{{"b", jsonx.Number, "1"}, {"a", jsonx.Number, "2"}}},
		{"escaped name", `{"\u0065xp":1}`, []member{{"exp", jsonx.Number, "1"}}},
		{"escapes in value", `{"s":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00"}`, []member{{"s", jsonx.String, "a\"b\\c/d\b\f\n\r\t\u00e9\U0001F600"}}},
		{"raw UTF-8", `{"é":"日本"}`, []member{{"é", jsonx.String, "日本"}}},
		{"case differs: two names", `{"exp":1,"EXP":2,"Exp":3}`, []member{
			{"exp", jsonx.Number, "1"}, {"EXP", jsonx.Number, "2"}, {"Exp", jsonx.Number, "3"},
		}},
		{"empty name", `{"":1}`, []member{{"", jsonx.Number, "1"}}},
		{"nested duplicates are the nested reader's concern", `{"o":{"a":1,"a":2}}`, []member{{"o", jsonx.Object, `{"a":1,"a":2}`}}},
		{"numbers", `{"a":0,"b":-0,"c":0.5,"d":1E9,"e":1e-9,"f":123456789012345678901234567890}`, []member{
			{"a", jsonx.Number, "0"}, {"b", jsonx.Number, "-0"}, {"c", jsonx.Number, "0.5"},
			{"d", jsonx.Number, "1E9"}, {"e", jsonx.Number, "1e-9"}, {"f", jsonx.Number, "123456789012345678901234567890"},
		}},
		{"depth MaxDepth", `{"a":` + strings.Repeat("[", jsonx.MaxDepth-1) + strings.Repeat("]", jsonx.MaxDepth-1) + `}`, []member{
			{"a", jsonx.Array, strings.Repeat("[", jsonx.MaxDepth-1) + strings.Repeat("]", jsonx.MaxDepth-1)},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := members([]byte(tc.in))
			if err != nil {
				t.Fatalf("Members(%q): %v", tc.in, err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("Members(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestMembersDuplicates(t *testing.T) {
	for _, in := range []string{
		`{"a":1,"a":2}`,
		`{"a":1,"b":2,"a":"x"}`,
		`{"exp":1,"\u0065xp":2}`,
		`{"\u0065xp":1,"exp":2}`,
		`{"\u0065\u0078\u0070":1,"e\u0078p":2}`,
		`{"a/b":1,"a\/b":2}`,
		`{"😀":1,"\ud83d\ude00":2}`,
		`{"é":1,"\u00e9":2}`,
		`{"é":1,"\u00E9":2}`,
		`{"":1,"":2}`,
		// More names than Members keeps on the stack, and than it
		// compares pairwise.
		`{` + numberedMembers(40) + `,"m7":0}`,
		`{` + numberedMembers(40) + `,"\u006d39":0}`,
		`{` + numberedMembers(1000) + `,"m999":0}`,
	} {
		t.Run(in, func(t *testing.T) {
			called := false
			err := jsonx.Members([]byte(in), func([]byte, jsonx.Value) error { called = true; return nil })
			if !errors.Is(err, jsonx.ErrDuplicate) {
				t.Fatalf("Members(%q) = %v, want ErrDuplicate", in, err)
			}
			_ = called // members before the duplicate may be reported: callers discard everything on error
		})
	}
	// A duplicate inside a nested object is found when the nested object is read.
	var nested jsonx.Value
	if err := jsonx.Members([]byte(`{"o":{"k":1,"\u006b":2}}`), func(_ []byte, v jsonx.Value) error { nested = v; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := jsonx.Members(nested.Raw(), func([]byte, jsonx.Value) error { return nil }); !errors.Is(err, jsonx.ErrDuplicate) {
		t.Fatalf("nested Members = %v, want ErrDuplicate", err)
	}
}

// numberedMembers returns n members "m0":0, "m1":1, … joined by commas.
func numberedMembers(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"m%d":%d`, i, i)
	}
	return strings.Join(parts, ",")
}

func TestMembersManyDistinctNames(t *testing.T) {
	got, err := members([]byte(`{` + numberedMembers(100) + `}`))
	if err != nil || len(got) != 100 {
		t.Fatalf("Members: %d members, %v; want 100", len(got), err)
	}
}

func TestMembersSyntax(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, tc := range []struct{ name, in string }{
		{"empty input", ``},
		{"whitespace only", ` `},
		{"not an object: array", `[]`},
		{"not an object: string", `"a"`},
		{"not an object: number", `1`},
		{"not an object: null", `null`},
		{"trailing data", `{}x`},
		{"two objects", `{}{}`},
		{"trailing comma in object", `{"a":1,}`},
		{"trailing comma in array", `{"a":[1,]}`},
		{"leading comma", `{,"a":1}`},
		{"missing colon", `{"a" 1}`},
		{"missing value", `{"a":}`},
		{"missing comma", `{"a":1 "b":2}`},
		{"unquoted name", `{a:1}`},
		{"single quotes", `{'a':1}`},
		{"non-string name", `{1:1}`},
		{"unterminated object", `{"a":1`},
		{"unterminated array", `{"a":[1}`},
		{"unterminated string", `{"a":"x}`},
		{"unterminated name", `{"a`},
		{"unterminated escape", `{"a":"\`},
		{"short \\u escape", `{"a":"\u12"}`},
		{"bad \\u escape", `{"a":"\u12g4"}`},
		{"bad escape", `{"a":"\x41"}`},
		{"escaped single quote", `{"a":"\'"}`},
		{"leading zero", `{"a":01}`},
		{"leading plus", `{"a":+1}`},
		{"bare minus", `{"a":-}`},
		{"bare dot", `{"a":.5}`},
		{"dot without digits", `{"a":1.}`},
		{"exponent without digits", `{"a":1e}`},
		{"exponent sign without digits", `{"a":1e+}`},
		{"hex number", `{"a":0x10}`},
		{"NaN", `{"a":NaN}`},
		{"Infinity", `{"a":Infinity}`},
		{"capitalised literal", `{"a":True}`},
		{"truncated literal", `{"a":nul}`},
		{"literal with suffix", `{"a":nullx}`},
		{"control character in string", "{\"a\":\"x\x01\"}"},
		{"newline in string", "{\"a\":\"x\ny\"}"},
		{"tab in name", "{\"a\tb\":1}"},
		{"NUL in string", "{\"a\":\"\x00\"}"},
		{"invalid UTF-8 in string", "{\"a\":\"\xff\"}"},
		{"invalid UTF-8 in name", "{\"\xc3\x28\":1}"},
		{"truncated UTF-8", "{\"a\":\"\xe6\x97\"}"},
		{"overlong UTF-8", "{\"a\":\"\xc0\xaf\"}"},
		{"UTF-8 encoded surrogate", "{\"a\":\"\xed\xa0\x80\"}"},
		{"lone high surrogate escape", `{"a":"\ud800"}`},
		{"lone low surrogate escape", `{"a":"\udc00"}`},
		{"high surrogate then letter", `{"a":"\ud83dx"}`},
		{"high surrogate then non-surrogate escape", `{"a":"\ud83d\u0041"}`},
		{"two high surrogates", `{"a":"\ud83d\ud83d"}`},
		{"reversed surrogate pair", `{"a":"\ude00\ud83d"}`},
		{"lone surrogate in name", `{"\udfff":1}`},
		{"invalid UTF-8 outside strings", "{\"a\":1}\xff"},
		{"byte order mark", "\xef\xbb\xbf{}"},
		{"vertical tab whitespace", "{\v}"},
		{"form feed whitespace", "{\f}"},
		{"non-breaking space", "{\u00a0}"},
		{"comment", `{/*c*/}`},
		{"depth MaxDepth+1", `{"a":` + deep(jsonx.MaxDepth) + `}`},
		{"depth MaxDepth+1 objects", strings.Repeat(`{"a":`, jsonx.MaxDepth+1) + `1` + strings.Repeat(`}`, jsonx.MaxDepth+1)},
		{"very deep", `{"a":` + deep(100000) + `}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			err := jsonx.Members([]byte(tc.in), func([]byte, jsonx.Value) error { called = true; return nil })
			if !errors.Is(err, jsonx.ErrSyntax) {
				t.Fatalf("Members(%q) = %v, want ErrSyntax", tc.in, err)
			}
			if called {
				t.Errorf("Members(%q) reported a member of invalid input", tc.in)
			}
		})
	}
}

func TestMembersCallbackError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := jsonx.Members([]byte(`{"a":1,"b":2,"c":3}`), func(name []byte, _ jsonx.Value) error {
		n++
		if string(name) == "b" {
			return stop
		}
		return nil
	})
	if err != stop || n != 2 {
		t.Fatalf("Members = %v after %d calls, want the callback's error after 2", err, n)
	}
}

// valueOf returns the value of the member "v" of data.
func valueOf(t *testing.T, data string) jsonx.Value {
	t.Helper()
	var v jsonx.Value
	if err := jsonx.Members([]byte(data), func(_ []byte, x jsonx.Value) error { v = x; return nil }); err != nil {
		t.Fatalf("Members(%q): %v", data, err)
	}
	return v
}

func TestElements(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // each element's Raw
	}{
		{`[]`, nil},
		{`[ ]`, nil},
		{`[1]`, []string{"1"}},
		{` [ "a" , {"b":[2]} , [] , null , -1e5 ] `, []string{"a", `{"b":[2]}`, "[]", "null", "-1e5"}},
		{`["\u0041"]`, []string{`\u0041`}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var got []string
			err := valueOf(t, `{"v":`+tc.in+`}`).Elements(func(e jsonx.Value) error {
				got = append(got, string(e.Raw()))
				return nil
			})
			if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("Elements(%s) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
	t.Run("not an array", func(t *testing.T) {
		for _, in := range []string{`"a"`, `{}`, `1`, `null`} {
			if err := valueOf(t, `{"v":`+in+`}`).Elements(func(jsonx.Value) error { return nil }); !errors.Is(err, jsonx.ErrType) {
				t.Errorf("Elements(%s) = %v, want ErrType", in, err)
			}
		}
	})
	t.Run("callback error stops", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		err := valueOf(t, `{"v":[1,2,3]}`).Elements(func(jsonx.Value) error { n++; return stop })
		if err != stop || n != 1 {
			t.Fatalf("Elements = %v after %d calls", err, n)
		}
	})
	t.Run("string element unescaped", func(t *testing.T) {
		var got string
		err := valueOf(t, `{"v":["a\nb"]}`).Elements(func(e jsonx.Value) error {
			var err error
			got, err = e.Str()
			return err
		})
		if err != nil || got != "a\nb" {
			t.Fatalf("element = %q, %v", got, err)
		}
	})
}

func TestFloat(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
	}{
		{"0", 0}, {"-0", math.Copysign(0, -1)}, {"1", 1}, {"-1.5", -1.5}, {"1e3", 1000}, {"1E+3", 1000}, {"25e-1", 2.5},
		{"1767225600", 1767225600}, {"1767225600.5", 1767225600.5},
		{"1e308", 1e308}, {"1e-400", 0}, {"12345678901234567890", 12345678901234567890},
	} {
		f, err := valueOf(t, `{"v":`+tc.in+`}`).Float()
		if err != nil || f != tc.want || math.Signbit(f) != math.Signbit(tc.want) {
			t.Errorf("Float(%s) = %v, %v; want %v", tc.in, f, err, tc.want)
		}
	}
	for _, in := range []string{"1e309", "-1e400", `"1"`, "true", "null", "[1]", "{}"} {
		if f, err := valueOf(t, `{"v":`+in+`}`).Float(); !errors.Is(err, jsonx.ErrType) {
			t.Errorf("Float(%s) = %v, %v; want ErrType", in, f, err)
		}
	}
}

func TestStrAndBytes(t *testing.T) {
	for _, in := range []string{"1", "true", "null", "[]", "{}"} {
		v := valueOf(t, `{"v":`+in+`}`)
		if _, err := v.Str(); !errors.Is(err, jsonx.ErrType) {
			t.Errorf("Str(%s) = %v, want ErrType", in, err)
		}
		if _, err := v.Bytes(); !errors.Is(err, jsonx.ErrType) {
			t.Errorf("Bytes(%s) = %v, want ErrType", in, err)
		}
	}
	v := valueOf(t, `{"v":"a\u0000b"}`)
	if s, err := v.Str(); err != nil || s != "a\x00b" {
		t.Errorf("Str = %q, %v", s, err)
	}
	if raw := string(v.Raw()); raw != `a\u0000b` {
		t.Errorf("Raw = %q, want the escaped contents", raw)
	}
}

// corpus is JSON, valid and not, for the cross-check with encoding/json
// and the fuzz seeds.
var corpus = []string{
	`{}`, `{"a":1}`, `{"a":"b","c":[1,2,{"d":null}],"e":{"f":true}}`,
	`{"iss":"https://issuer.test","sub":"alice","aud":["api","other"],"exp":1767229200,"iat":1767225600,"nbf":1767225600,"jti":"AAAAAAAAAAAAAAAAAAAAAA","scope":"read write","client_id":"ci"}`,
	`{"alg":"EdDSA","kid":"k","typ":"at+jwt"}`, `{"kid":"k4.pid.AAAA"}`,
	`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"a","alg":"EdDSA","use":"sig"}]}`,
	`{"a":1,"a":2}`, `{"exp":1,"\u0065xp":2}`, `{"exp":1,"EXP":2}`,
	`{"a":"\ud83d\ude00"}`, `{"a":"\ud800"}`, `{"a":"\udc00\ud800"}`, "{\"a\":\"\xff\"}",
	`[]`, `"x"`, `1`, `null`, ``, ` `, `{`, `}`, `{"a":1,}`, `{"a":[1,]}`, `{"a":01}`, `{"a":1.}`, `{"a":-}`,
	`{"a":1e5}`, `{"a":-0.0e-0}`, "{\"a\":\"\t\"}", `{} x`, `{}{}`, " {\n\"a\" :\t1\r\n} ",
	`{"a":` + strings.Repeat("[", jsonx.MaxDepth-1) + strings.Repeat("]", jsonx.MaxDepth-1) + `}`,
	`{"a":` + strings.Repeat("[", jsonx.MaxDepth) + strings.Repeat("]", jsonx.MaxDepth) + `}`,
	`{"\"":1,"\\":2,"\/":3,"/":4}`, `{"a":"\u00"}`, `{"a":tru}`, `{"a":nulll}`, `{"":""}`,
}

func TestMembersMatchesEncodingJSON(t *testing.T) {
	for _, in := range corpus {
		checkAgainstEncodingJSON(t, []byte(in))
	}
}

func FuzzMembers(f *testing.F) {
	for _, in := range corpus {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAgainstEncodingJSON(t, data)
	})
}

// checkAgainstEncodingJSON checks Members on data against encoding/json:
// Members accepts exactly the texts that encoding/json accepts, less those
// that strictValid excludes, and reports the same names and values.
func checkAgainstEncodingJSON(t *testing.T, data []byte) {
	t.Helper()
	got, err := members(data)
	want := strictValid(data)
	if err == nil && !json.Valid(data) {
		t.Fatalf("Members accepted %q, which encoding/json rejects", data)
	}
	if (err == nil) != want {
		t.Fatalf("Members(%q) = %v, want accepted = %v", data, err, want)
	}
	if err != nil {
		if !errors.Is(err, jsonx.ErrSyntax) && !errors.Is(err, jsonx.ErrDuplicate) {
			t.Fatalf("Members(%q) = %v, want ErrSyntax or ErrDuplicate", data, err)
		}
		return
	}
	ref := referenceMembers(t, data)
	if len(got) != len(ref) {
		t.Fatalf("Members(%q) reported %d members, encoding/json %d", data, len(got), len(ref))
	}
	for i, m := range got {
		r := ref[i]
		if m.name != r.name {
			t.Fatalf("member %d of %q: name %q, encoding/json %q", i, data, m.name, r.name)
		}
		if m.kind != kindOf(r.raw) {
			t.Fatalf("member %q of %q: kind %v, value %s", m.name, data, m.kind, r.raw)
		}
		switch m.kind {
		case jsonx.String:
			var s string
			if err := json.Unmarshal(r.raw, &s); err != nil || s != m.value {
				t.Fatalf("member %q of %q: %q, encoding/json %q (%v)", m.name, data, m.value, s, err)
			}
		case jsonx.Number:
			want, werr := strconv.ParseFloat(string(r.raw), 64)
			v := valueOfMember(t, data, i)
			f, ferr := v.Float()
			if (werr == nil) != (ferr == nil) || werr == nil && f != want {
				t.Fatalf("member %q of %q: Float %v, %v; strconv %v, %v", m.name, data, f, ferr, want, werr)
			}
		default:
			if m.value != string(r.raw) {
				t.Fatalf("member %q of %q: raw %s, encoding/json %s", m.name, data, m.value, r.raw)
			}
		}
		if m.kind == jsonx.Array {
			checkElements(t, valueOfMember(t, data, i), r.raw)
		}
	}
}

// checkElements compares Elements with encoding/json's reading of raw.
func checkElements(t *testing.T, v jsonx.Value, raw []byte) {
	t.Helper()
	var want []json.RawMessage
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	i := 0
	err := v.Elements(func(e jsonx.Value) error {
		if i >= len(want) {
			return fmt.Errorf("more elements than encoding/json's %d", len(want))
		}
		if e.Kind != kindOf(want[i]) {
			return fmt.Errorf("element %d: kind %v, value %s", i, e.Kind, want[i])
		}
		got := string(e.Raw())
		if e.Kind == jsonx.String {
			got = `"` + got + `"`
		}
		if got != string(want[i]) {
			return fmt.Errorf("element %d: %s, encoding/json %s", i, got, want[i])
		}
		i++
		return nil
	})
	if err == nil && i != len(want) {
		err = fmt.Errorf("%d elements, encoding/json %d", i, len(want))
	}
	if err != nil {
		t.Fatalf("Elements(%s): %v", raw, err)
	}
}

func valueOfMember(t *testing.T, data []byte, index int) jsonx.Value {
	t.Helper()
	var v jsonx.Value
	i := 0
	if err := jsonx.Members(data, func(_ []byte, x jsonx.Value) error {
		if i == index {
			v = x
		}
		i++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

func kindOf(raw []byte) jsonx.Kind {
	switch raw[0] {
	case '"':
		return jsonx.String
	case '{':
		return jsonx.Object
	case '[':
		return jsonx.Array
	case 't', 'f':
		return jsonx.Bool
	case 'n':
		return jsonx.Null
	}
	return jsonx.Number
}

type refMember struct {
	name string
	raw  json.RawMessage
}

// referenceMembers reads the top-level members of data with encoding/json.
func referenceMembers(t *testing.T, data []byte) []refMember {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("encoding/json: %v, %v", tok, err)
	}
	var out []refMember
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		out = append(out, refMember{tok.(string), raw})
	}
	return out
}

// strictValid is the definition of what Members accepts, in terms of
// encoding/json: a valid JSON text whose top level is an object, in valid
// UTF-8, whose \u escapes never leave a UTF-16 surrogate unpaired (they
// would decode to U+FFFD here but to other things elsewhere), nested at
// most MaxDepth deep, and without two top-level members of one name.
func strictValid(data []byte) bool {
	if !json.Valid(data) || !utf8.Valid(data) {
		return false
	}
	if trimmed := bytes.TrimLeft(data, " \t\r\n"); trimmed[0] != '{' {
		return false
	}
	depth, paired := scanValid(data)
	if !paired || depth > jsonx.MaxDepth {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.Token()
	seen := map[string]bool{}
	for dec.More() {
		tok, _ := dec.Token()
		if seen[tok.(string)] {
			return false
		}
		seen[tok.(string)] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			panic(err) // the text is valid
		}
	}
	return true
}

// scanValid walks valid JSON and returns its nesting depth and whether
// every surrogate escape is a high one followed at once by a low one.
func scanValid(data []byte) (maxDepth int, paired bool) {
	depth, inString := 0, false
	surrogate := func(s []byte) rune {
		r, _ := strconv.ParseUint(string(s), 16, 32)
		return rune(r)
	}
	for i := 0; i < len(data); i++ {
		c := data[i]
		if !inString {
			switch c {
			case '"':
				inString = true
			case '{', '[':
				depth++
				maxDepth = max(maxDepth, depth)
			case '}', ']':
				depth--
			}
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			i++
			if data[i] != 'u' {
				continue
			}
			r := surrogate(data[i+1 : i+5])
			i += 4
			switch {
			case 0xd800 <= r && r < 0xdc00:
				if i+6 < len(data) && data[i+1] == '\\' && data[i+2] == 'u' {
					if r2 := surrogate(data[i+3 : i+7]); 0xdc00 <= r2 && r2 < 0xe000 {
						i += 6
						continue
					}
				}
				return maxDepth, false
			case 0xdc00 <= r && r < 0xe000:
				return maxDepth, false
			}
		}
	}
	return maxDepth, true
}

// BenchmarkMembers reads the claims of a typical access token, as the
// verifier does on every token.
func BenchmarkMembers(b *testing.B) {
	claims := []byte(`{"iss":"https://writ.example","sub":"user-42","aud":"https://api.example",` +
		`"exp":1795000000,"iat":1794996400,"nbf":1794996400,"jti":"7lAEnfnJk2uVvW3zG5kq8Q",` +
		`"scope":"read:items write:items","client_id":"ci-deploy"}`)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		err := jsonx.Members(claims, func(name []byte, v jsonx.Value) error {
			n++
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if n == 0 {
		b.Fatal("no members")
	}
}
