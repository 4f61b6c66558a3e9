package feed_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/writ-dev/writ/internal/feed"
)

// FuzzDecodeFeed: Decode never panics, reads nothing above MaxSize, and
// what it reads, Append writes so that Decode reads it again alike, and
// writes again byte for byte.
func FuzzDecodeFeed(f *testing.F) {
	names, err := filepath.Glob("testdata/*.json")
	if err != nil || len(names) == 0 {
		f.Fatalf("no seed payloads in testdata: %v", err)
	}
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(feed.Append(nil, &feed.Head{Issuer: "i"}, randomBatch(3)))
	f.Add([]byte(`{"iss":"i","iat":1,"epoch":"e","since":0,"seq":1,"next_update":2,"tokens":[["AAECAwQFBgcICQoLDA0ODw",1,2]],"subjects":[["s",1,2]],"keys":[["k",1]],"x":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, b, err := feed.Decode(data)
		if err != nil {
			if h != nil || b != nil {
				t.Fatal("Decode returned a result with an error")
			}
			return
		}
		enc := feed.Append(nil, h, b)
		h2, b2, err := feed.Decode(enc)
		if err != nil {
			t.Fatalf("Decode of Append's output %q: %v", enc, err)
		}
		if *h2 != *h || !reflect.DeepEqual(norm(b2), norm(b)) {
			t.Fatalf("decode, encode, decode differs: %+v %+v, then %+v %+v", h, b, h2, b2)
		}
		if enc2 := feed.Append(nil, h2, b2); !bytes.Equal(enc2, enc) {
			t.Fatalf("encoded again %q, first %q", enc2, enc)
		}
	})
}

// norm gives a batch's empty lists one form.
func norm(b *feed.Batch) feed.Batch {
	c := *b
	if len(c.Tokens) == 0 {
		c.Tokens = nil
	}
	if len(c.Subjects) == 0 {
		c.Subjects = nil
	}
	if len(c.Keys) == 0 {
		c.Keys = nil
	}
	return c
}
