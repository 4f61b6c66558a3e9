package jws

import (
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/b64"
)

// TestParseTruncatedHeader: a header whose nested value is cut short once
// made the JSON reader panic, before any signature check.
func TestParseTruncatedHeader(t *testing.T) {
	for _, h := range []string{`{"alg":{`, `{"alg":[`, `{"x":{"y":[{`} {
		tok := b64.Encode([]byte(h)) + ".e30.c2ln"
		if _, err := Parse(tok); err == nil {
			t.Errorf("Parse accepted header %q", h)
		}
	}
}

// TestParseSharesOneBuffer checks the memory contract of Token: the
// payload is decoded into the room Parse reserved, and Kid is a copy.
func TestParseSharesOneBuffer(t *testing.T) {
	h := b64.Encode([]byte(`{"alg":"EdDSA","kid":"k1","typ":"at+jwt"}`))
	p := b64.Encode([]byte(`{"sub":"s"}`))
	tok, err := Parse(h + "." + p + "." + b64.Encode(make([]byte, 64)))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Header != (Header{Alg: "EdDSA", Kid: "k1", Typ: "at+jwt"}) || len(tok.Signature) != 64 {
		t.Fatalf("token %+v", tok)
	}
	payload, err := tok.DecodePayload()
	if err != nil || string(payload) != `{"sub":"s"}` {
		t.Fatalf("DecodePayload = %q, %v", payload, err)
	}
	if &payload[0] != &tok.payload[:1][0] {
		t.Error("payload not decoded into the token's buffer")
	}
	bad, err := Parse(h + ".e30!." + b64.Encode(make([]byte, 64)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.DecodePayload(); err == nil || !strings.Contains(err.Error(), "base64") {
		t.Errorf("DecodePayload of a bad payload: %v", err)
	}
}
