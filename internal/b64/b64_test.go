package b64

import (
	"bytes"
	"encoding/base64"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// strictReference is the definition DecodeInto must match: only URL-safe
// characters, no padding or whitespace, a length unpadded base64 can have,
// and the canonical encoding (no non-zero trailing bits).
func strictReference(s string) ([]byte, bool) {
	if len(s)%4 == 1 {
		return nil, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return nil, false
		}
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || base64.RawURLEncoding.EncodeToString(b) != s {
		return nil, false
	}
	return b, true
}

func TestDecodeStrict(t *testing.T) {
	for _, s := range []string{
		"", "AA", "AAA", "AAAA", "eyJhbGciOiJFZERTQSJ9", "-_-_",
		"A", "AAAAA", "AA==", "AA=", "A+/A", "AA AA", "AA\nAA", "AA\rAA", "AA\tAA",
		"AB", "AAB", "ey J", "\n", "AAAA\n", "é", "AA\x00A",
	} {
		want, wantOK := strictReference(s)
		got, err := Decode(s)
		if (err == nil) != wantOK || !bytes.Equal(got, want) {
			t.Errorf("Decode(%q) = %x, %v; want %x, ok=%v", s, got, err, want, wantOK)
		}
	}
}

// TestDecodeRejects names each way an encoding can be other than canonical
// unpadded base64url; each must fail with ErrInvalid.
func TestDecodeRejects(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"padding, 1 byte", "AA=="},
		{"padding, 2 bytes", "AAE="},
		{"padding only", "===="},
		{"padding in the middle", "AA==AAAA"},
		{"single padding on 1 byte", "AA="},
		{"standard alphabet +", "+AAA"},
		{"standard alphabet /", "AA/A"},
		{"space", "AA AA"},
		{"leading space", " AAAA"},
		{"trailing space", "AAAA "},
		{"tab", "AA\tA"},
		{"newline (Go's decoder skips it)", "AA\nAA"},
		{"carriage return (Go's decoder skips it)", "AA\rAA"},
		{"CRLF (Go's decoder skips it)", "AAAA\r\nAAAA"},
		{"newline only", "\n"},
		{"CRLF only", "\r\n"},
		{"trailing newline", "AAAA\n"},
		{"newline making 4n+1 look like 4n", "AAAAA\n\n\n"},
		{"trailing bits, 1 byte", "AB"},
		{"trailing bits, 1 byte (high)", "AP"},
		{"trailing bits, 2 bytes", "AAB"},
		{"trailing bits after data", "eyJhbGciOiJFZERTQSJ9eyB"},
		{"length 4n+1", "A"},
		{"length 4n+1, longer", "AAAAA"},
		{"NUL", "AA\x00A"},
		{"non-ASCII", "AAé"},
		{"percent-encoded", "AA%3D"},
		{"dot", "AA.A"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := Decode(tc.in); !errors.Is(err, ErrInvalid) {
				t.Errorf("Decode(%q) = %x, %v; want ErrInvalid", tc.in, got, err)
			}
			dst := make([]byte, 64)
			if n, err := DecodeInto(dst, tc.in); !errors.Is(err, ErrInvalid) || n != 0 {
				t.Errorf("DecodeInto(%q) = %d, %v; want 0, ErrInvalid", tc.in, n, err)
			}
		})
	}
}

func TestDecodeAccepts(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []byte
	}{
		{"", []byte{}},
		{"AA", []byte{0}},
		{"AAE", []byte{0, 1}},
		{"AAEC", []byte{0, 1, 2}},
		{"-_8", []byte{0xfb, 0xff}},
		{"_w", []byte{0xff}},
		{"eyJhbGciOiJFZERTQSJ9", []byte(`{"alg":"EdDSA"}`)},
	} {
		got, err := Decode(tc.in)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("Decode(%q) = %x, %v; want %x", tc.in, got, err, tc.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2)) // fixed seed: reproducible
	for n := 0; n <= 300; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		s := Encode(b)
		if strings.ContainsAny(s, "=+/") || len(s) != (n*8+5)/6 {
			t.Fatalf("Encode(%d bytes) = %q", n, s)
		}
		if a := string(AppendEncode([]byte("x."), b)); a != "x."+s {
			t.Fatalf("AppendEncode = %q, want %q", a, "x."+s)
		}
		if DecodedLen(len(s)) != n {
			t.Fatalf("DecodedLen(%d) = %d, want %d", len(s), DecodedLen(len(s)), n)
		}
		got, err := Decode(s)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("Decode(Encode(%x)) = %x, %v", b, got, err)
		}
		// DecodeInto into a buffer of exactly DecodedLen bytes.
		dst := make([]byte, DecodedLen(len(s)))
		if m, err := DecodeInto(dst, s); err != nil || m != n || !bytes.Equal(dst, b) {
			t.Fatalf("DecodeInto(%q) = %d, %v", s, m, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{"eyJhbGciOiJFZERTQSJ9", "AA\nAA", "AB", "A", "AA==", "-_", "AAAA\r\n", "+/+/", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, wantOK := strictReference(s)
		got, err := Decode(s)
		if (err == nil) != wantOK || !bytes.Equal(got, want) {
			t.Fatalf("Decode(%q) = %x, %v; want %x, ok=%v", s, got, err, want, wantOK)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode(%q) = %v, want ErrInvalid", s, err)
			}
			return
		}
		// Decode→Encode round trip: one accepted encoding per byte string.
		if Encode(got) != s {
			t.Fatalf("Encode(Decode(%q)) = %q", s, Encode(got))
		}
		if strings.ContainsAny(s, "=+/ \t\r\n") {
			t.Fatalf("accepted %q", s)
		}
	})
}
