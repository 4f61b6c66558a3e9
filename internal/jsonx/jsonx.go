// Package jsonx reads the members of one JSON object strictly and without
// reflection: member names are matched byte for byte after unescaping (never
// case-folded, as encoding/json does), duplicate names are an error, and the
// whole text must be valid RFC 8259 JSON in UTF-8 with no trailing data and
// no \u escape of an unpaired UTF-16 surrogate.
//
// Token headers, claims and footers are read with it: a token whose payload
// says "exp" twice, or "EXP", must not mean something different to writ than
// to another verifier.
package jsonx

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// MaxDepth bounds the nesting of arrays and objects.
const MaxDepth = 32

var (
	// ErrSyntax reports text that is not valid JSON, or not an object.
	ErrSyntax = errors.New("invalid JSON")
	// ErrDuplicate reports an object that names the same member twice.
	ErrDuplicate = errors.New("duplicate member name")
	// ErrType reports a value of another kind than the accessor expects.
	ErrType = errors.New("unexpected JSON type")
)

// Kind is the type of a JSON value.
type Kind uint8

// The kinds of JSON values.
const (
	String Kind = iota + 1
	Number
	Object
	Array
	Bool
	Null
)

// Value is one JSON value inside a larger text. It refers to that text and is
// valid only as long as the text is not modified.
type Value struct {
	Kind    Kind
	raw     []byte // a string's contents between the quotes; otherwise the value's text
	escaped bool   // a string containing backslash escapes
}

// Bytes returns a string value's contents, unescaped. When the string has no
// escapes, the result shares memory with the original text.
func (v Value) Bytes() ([]byte, error) {
	if v.Kind != String {
		return nil, ErrType
	}
	if !v.escaped {
		return v.raw, nil
	}
	return unescape(v.raw), nil
}

// Str returns a string value's contents as a new string.
func (v Value) Str() (string, error) {
	b, err := v.Bytes()
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Raw returns the text of an object, array, number or literal value, or a
// string's contents between the quotes, still escaped.
func (v Value) Raw() []byte { return v.raw }

// Float returns a number value.
func (v Value) Float() (float64, error) {
	if v.Kind != Number {
		return 0, ErrType
	}
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(v.raw), len(v.raw)), 64)
	if err != nil {
		// Only a magnitude beyond float64 gets here: the syntax was checked.
		return 0, ErrType
	}
	return f, nil
}

// Elements calls fn for each element of an array value, in order.
func (v Value) Elements(fn func(Value) error) error {
	if v.Kind != Array {
		return ErrType
	}
	s := scanner{data: v.raw, pos: 1}
	s.ws()
	if s.peek() == ']' {
		return nil
	}
	for {
		var e Value
		if err := s.value(&e, 1); err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
		s.ws()
		if s.next() == ']' {
			return nil
		}
		// The array was validated when it was first scanned: a comma follows.
	}
}

// Members calls fn for each member of the JSON object that data holds, in
// order, after checking the whole text. fn's name argument is unescaped and
// must not be retained. An error from fn stops the walk and is returned.
func Members(data []byte, fn func(name []byte, v Value) error) error {
	s := scanner{data: data}
	s.ws()
	if s.next() != '{' {
		return ErrSyntax
	}
	// One pass checks the whole text and notes its members, so that fn
	// never acts on a prefix of invalid input nor on an object that names a
	// member twice. Tokens have a dozen members: they fit in buf.
	var buf [pairwiseMembers]member
	members := buf[:0]
	s.ws()
	if s.peek() == '}' {
		s.pos++
	} else {
		for {
			if len(members) == cap(members) {
				members = slices.Grow(members, len(members))
			}
			members = members[:len(members)+1]
			m := &members[len(members)-1]
			s.ws()
			raw, escaped, err := s.str()
			if err != nil {
				return err
			}
			m.name = raw
			if escaped {
				m.name = unescape(raw)
			}
			m.tag = tag(m.name)
			s.ws()
			if s.next() != ':' {
				return ErrSyntax
			}
			if err := s.value(&m.value, 1); err != nil {
				return err
			}
			s.ws()
			if c := s.next(); c == '}' {
				break
			} else if c != ',' {
				return ErrSyntax
			}
		}
	}
	s.ws()
	if s.pos != len(data) {
		return ErrSyntax
	}
	if hasDuplicate(members) {
		return ErrDuplicate
	}
	for _, m := range members {
		if err := fn(m.name, m.value); err != nil {
			return err
		}
	}
	return nil
}

type member struct {
	name  []byte
	tag   uint32 // tag(name): most distinct names differ in it
	value Value
}

// hasDuplicate reports whether two members have the same name. A token's
// dozen members are compared pairwise, which costs no allocation; beyond
// that, a set keeps hostile input (thousands of names alike in length and
// first and last bytes, in a PASETO footer read before the signature is
// checked, or a key set) from costing quadratic time.
func hasDuplicate(members []member) bool {
	if len(members) <= pairwiseMembers {
		for i, m := range members {
			for _, prev := range members[:i] {
				if prev.tag == m.tag && bytes.Equal(prev.name, m.name) {
					return true
				}
			}
		}
		return false
	}
	seen := make(map[string]struct{}, len(members))
	for _, m := range members {
		if _, ok := seen[string(m.name)]; ok {
			return true
		}
		seen[string(m.name)] = struct{}{}
	}
	return false
}

// pairwiseMembers is how many members hasDuplicate compares pairwise.
const pairwiseMembers = 32

// tag packs a name's length and first and last bytes, so that the duplicate
// check compares most pairs of names in one instruction.
func tag(name []byte) uint32 {
	if len(name) == 0 {
		return 0
	}
	return uint32(len(name))<<16 | uint32(name[0])<<8 | uint32(name[len(name)-1])
}

type scanner struct {
	data []byte
	pos  int
}

func (s *scanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

func (s *scanner) next() byte {
	c := s.peek()
	s.pos++
	return c
}

func (s *scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value scans one value at the current position (after whitespace) into v.
// (Storing through a pointer rather than returning a Value saves a copy per
// member: this runs for every claim of every token.)
func (s *scanner) value(v *Value, depth int) error {
	s.ws()
	start := s.pos
	var err error
	switch c := s.peek(); {
	case c == '"':
		v.Kind = String
		v.raw, v.escaped, err = s.str()
		return err
	case c == '{':
		s.pos++
		end, err := s.skipObject(depth + 1)
		if err != nil {
			return err // end is not an offset then
		}
		s.pos = end
		v.Kind = Object
	case c == '[':
		s.pos++
		end, err := s.skipArray(depth + 1)
		if err != nil {
			return err
		}
		s.pos = end
		v.Kind = Array
	case c == '-' || '0' <= c && c <= '9':
		if err := s.number(); err != nil {
			return err
		}
		v.Kind = Number
	case s.literal("true"), s.literal("false"):
		v.Kind = Bool
	case s.literal("null"):
		v.Kind = Null
	default:
		return ErrSyntax
	}
	v.raw, v.escaped = s.data[start:s.pos], false
	return nil
}

func (s *scanner) literal(lit string) bool {
	if bytes.HasPrefix(s.data[s.pos:], []byte(lit)) {
		s.pos += len(lit)
		return true
	}
	return false
}

// skipObject checks an object whose '{' has been consumed and returns the
// offset just past its '}'.
func (s *scanner) skipObject(depth int) (int, error) {
	if depth > MaxDepth {
		return 0, ErrSyntax
	}
	s.ws()
	if s.peek() == '}' {
		s.pos++
		return s.pos, nil
	}
	for {
		s.ws()
		if _, _, err := s.str(); err != nil {
			return 0, err
		}
		s.ws()
		if s.next() != ':' {
			return 0, ErrSyntax
		}
		var v Value
		if err := s.value(&v, depth); err != nil {
			return 0, err
		}
		s.ws()
		switch s.next() {
		case ',':
		case '}':
			return s.pos, nil
		default:
			return 0, ErrSyntax
		}
	}
}

// skipArray checks an array whose '[' has been consumed and returns the
// offset just past its ']'.
func (s *scanner) skipArray(depth int) (int, error) {
	if depth > MaxDepth {
		return 0, ErrSyntax
	}
	s.ws()
	if s.peek() == ']' {
		s.pos++
		return s.pos, nil
	}
	for {
		var v Value
		if err := s.value(&v, depth); err != nil {
			return 0, err
		}
		s.ws()
		switch s.next() {
		case ',':
		case ']':
			return s.pos, nil
		default:
			return 0, ErrSyntax
		}
	}
}

// str scans a string at the current position and returns its contents
// between the quotes.
func (s *scanner) str() (raw []byte, escaped bool, err error) {
	if s.next() != '"' {
		return nil, false, ErrSyntax
	}
	start := s.pos
	for {
		// Skip a run of plain bytes with the index in a register.
		i, data := s.pos, s.data
		for i < len(data) && plain[data[i]] {
			i++
		}
		s.pos = i
		if i >= len(data) {
			break
		}
		c := data[i]
		switch {
		case c == '"':
			s.pos++
			return s.data[start : s.pos-1], escaped, nil
		case c == '\\':
			escaped = true
			s.pos++
			switch s.next() {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if s.pos+4 > len(s.data) {
					return nil, false, ErrSyntax
				}
				for _, h := range s.data[s.pos : s.pos+4] {
					if unhex(h) < 0 {
						return nil, false, ErrSyntax
					}
				}
				r := hex4(s.data[s.pos:])
				s.pos += 4
				if utf16.IsSurrogate(r) && !s.lowSurrogate(r) {
					return nil, false, ErrSyntax
				}
			default:
				return nil, false, ErrSyntax
			}
		case c < 0x20:
			return nil, false, ErrSyntax
		case c < utf8.RuneSelf:
			s.pos++
		default:
			r, size := utf8.DecodeRune(s.data[s.pos:])
			if r == utf8.RuneError && size == 1 {
				return nil, false, ErrSyntax
			}
			s.pos += size
		}
	}
	return nil, false, ErrSyntax
}

// lowSurrogate reports whether r, the UTF-16 surrogate of a \u escape just
// read, is the high half of a pair whose low half follows at once as
// another \u escape, and consumes that escape. A lone surrogate means
// different things to different JSON readers (U+FFFD in Go, a lone UTF-16
// unit in JavaScript, an error in others), so str refuses it.
func (s *scanner) lowSurrogate(r rune) bool {
	d := s.data[s.pos:]
	if r >= 0xdc00 || len(d) < 6 || d[0] != '\\' || d[1] != 'u' {
		return false
	}
	for _, h := range d[2:6] {
		if unhex(h) < 0 {
			return false
		}
	}
	if r2 := hex4(d[2:]); r2 < 0xdc00 || r2 > 0xdfff {
		return false
	}
	s.pos += 6
	return true
}

// plain marks the bytes that stand for themselves in a string: printable
// ASCII other than '"' and '\\'. str checks the others one by one.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func (s *scanner) number() error {
	if s.peek() == '-' {
		s.pos++
	}
	switch c := s.peek(); {
	case c == '0':
		s.pos++
	case '1' <= c && c <= '9':
		s.digits()
	default:
		return ErrSyntax
	}
	if s.peek() == '.' {
		s.pos++
		if s.digits() == 0 {
			return ErrSyntax
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.pos++
		if c := s.peek(); c == '+' || c == '-' {
			s.pos++
		}
		if s.digits() == 0 {
			return ErrSyntax
		}
	}
	return nil
}

func (s *scanner) digits() int {
	i, data := s.pos, s.data
	for i < len(data) && '0' <= data[i] && data[i] <= '9' {
		i++
	}
	n := i - s.pos
	s.pos = i
	return n
}

func unhex(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// unescape decodes the escapes of string contents that str has validated
// (so every surrogate escape is half of a pair; were one alone, it would
// become U+FFFD, as encoding/json does).
func unescape(raw []byte) []byte {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		e := raw[i+1]
		i += 2
		switch e {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(raw[i:])
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					r2 = hex4(raw[i+2:])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default: // '"', '\\', '/'
			out = append(out, e)
		}
	}
	return out
}

func hex4(b []byte) rune {
	return unhex(b[0])<<12 | unhex(b[1])<<8 | unhex(b[2])<<4 | unhex(b[3])
}
