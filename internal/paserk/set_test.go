package paserk_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"testing"

	"github.com/writ-dev/writ/internal/jsonx"
	"github.com/writ-dev/writ/internal/paserk"
	"github.com/writ-dev/writ/verifier"
)

// elements returns the elements of the "keys" array of a set.
func elements(t testing.TB, set []byte) [][]byte {
	t.Helper()
	var out [][]byte
	err := jsonx.Members(set, func(name []byte, v jsonx.Value) error {
		if string(name) != "keys" {
			t.Fatalf("member %q in a set", name)
		}
		return v.Elements(func(e jsonx.Value) error {
			out = append(out, bytes.Clone(e.Raw()))
			return nil
		})
	})
	if err != nil {
		t.Fatalf("set %s: %v", set, err)
	}
	return out
}

func newEntry(t testing.TB) paserk.SetEntry {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return paserk.SetEntry{KID: paserk.ID(pub), PASERK: paserk.Public(pub)}
}

// TestSetMatchesEncodingJSON: AppendSet writes what encoding/json wrote
// for writ's PASERK set before it, byte for byte.
func TestSetMatchesEncodingJSON(t *testing.T) {
	type entry struct {
		Kid    string `json:"kid"`
		PASERK string `json:"paserk"`
	}
	for _, keys := range [][]paserk.SetEntry{
		nil,
		{newEntry(t)},
		{newEntry(t), newEntry(t), {KID: `<a"b\c>&`, PASERK: "é😀\u2028\x01\xff"}},
	} {
		set := struct {
			Keys []entry `json:"keys"`
		}{Keys: []entry{}}
		for _, k := range keys {
			set.Keys = append(set.Keys, entry{k.KID, k.PASERK})
		}
		want, err := json.Marshal(set)
		if err != nil {
			t.Fatal(err)
		}
		if got := paserk.AppendSet([]byte("x"), keys); string(got) != "x"+string(want) {
			t.Errorf("AppendSet:\ngot  %s\nwant x%s", got, want)
		}
	}
}

// TestSetRoundTrip: ParseSetEntry reads back each key that AppendSet
// writes, and the verifier reads the set.
func TestSetRoundTrip(t *testing.T) {
	keys := []paserk.SetEntry{newEntry(t), newEntry(t), newEntry(t)}
	set := paserk.AppendSet(nil, keys)
	els := elements(t, set)
	if len(els) != len(keys) {
		t.Fatalf("%d elements, want %d", len(els), len(keys))
	}
	for i, e := range els {
		m, err := paserk.ParseSetEntry(e)
		if err != nil || m.SetEntry != keys[i] || !m.HasKID || !m.HasPASERK || m.NotString != "" {
			t.Errorf("element %d: %+v, %v; want %+v", i, m, err, keys[i])
		}
	}
	ks, err := verifier.ParsePASERKSet(set)
	if err != nil || ks.Len() != len(keys) || len(ks.Ignored()) != 0 {
		t.Fatalf("verifier.ParsePASERKSet: %v, %v", ks, err)
	}
	if e := paserk.AppendSet(nil, nil); string(e) != `{"keys":[]}` {
		t.Errorf("empty set %s", e)
	}
}

func TestParseSetEntry(t *testing.T) {
	for _, tc := range []struct {
		data string
		want paserk.SetMembers
		err  bool
	}{
		{`{}`, paserk.SetMembers{}, false},
		{`{"kid":"a","paserk":"b","other":[1]}`, paserk.SetMembers{SetEntry: paserk.SetEntry{KID: "a", PASERK: "b"}, HasKID: true, HasPASERK: true}, false},
		{`{"paserk":"\u0062"}`, paserk.SetMembers{SetEntry: paserk.SetEntry{PASERK: "b"}, HasPASERK: true}, false},
		{`{"paserk":1,"kid":null}`, paserk.SetMembers{NotString: "paserk"}, false},
		{`{"kid":{},"paserk":"b"}`, paserk.SetMembers{SetEntry: paserk.SetEntry{PASERK: "b"}, HasPASERK: true, NotString: "kid"}, false},
		{`{"KID":"a"}`, paserk.SetMembers{}, false},
		{`{"kid":"a","kid":"b"}`, paserk.SetMembers{}, true},
		{`{"kid":"a"`, paserk.SetMembers{}, true},
		{`["kid"]`, paserk.SetMembers{}, true},
		{"{\"kid\":\"\xff\"}", paserk.SetMembers{}, true},
	} {
		m, err := paserk.ParseSetEntry([]byte(tc.data))
		if m != tc.want || (err != nil) != tc.err {
			t.Errorf("%s: %+v, %v; want %+v, error %v", tc.data, m, err, tc.want, tc.err)
		}
	}
}

// FuzzParseSetEntry: ParseSetEntry never panics, and an entry it reads
// whole, AppendSet writes so that it reads the same again, and the same
// bytes are written again.
func FuzzParseSetEntry(f *testing.F) {
	e := newEntry(f)
	for _, el := range elements(f, paserk.AppendSet(nil, []paserk.SetEntry{e, {KID: "<é>", PASERK: "k4.secret.x"}})) {
		f.Add(el)
	}
	f.Add([]byte(`{"kid":1,"paserk":"k4.public.AAAA","x":{"y":[]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := paserk.ParseSetEntry(data)
		if err != nil {
			if m != (paserk.SetMembers{}) {
				t.Fatalf("members %+v with an error", m)
			}
			return
		}
		if !m.HasKID || !m.HasPASERK || m.NotString != "" {
			return
		}
		set := paserk.AppendSet(nil, []paserk.SetEntry{m.SetEntry})
		els := elements(t, set)
		if len(els) != 1 {
			t.Fatalf("set %s", set)
		}
		back, err := paserk.ParseSetEntry(els[0])
		if err != nil || back != m {
			t.Fatalf("read back %+v, %v; want %+v", back, err, m)
		}
		if again := paserk.AppendSet(nil, []paserk.SetEntry{back.SetEntry}); !bytes.Equal(again, set) {
			t.Fatalf("written again %s, first %s", again, set)
		}
	})
}
