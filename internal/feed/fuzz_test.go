package feed_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
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

// allocated returns the bytes that fn allocates.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// FuzzDecodeSnapshot: DecodeSnapshot never panics, allocates no more than
// a few times its input, and what it reads, AppendSnapshot writes again
// byte for byte.
func FuzzDecodeSnapshot(f *testing.F) {
	for _, n := range []int{0, 1, 3} {
		f.Add(encodeSnapshot(f, randomSnapshot(f, n)))
	}
	f.Add([]byte("WRITSNAP\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s *feed.Snapshot
		var err error
		if n := allocated(func() { s, err = feed.DecodeSnapshot(data) }); n > 8*uint64(len(data))+64<<10 {
			t.Fatalf("DecodeSnapshot of %d bytes allocated %d", len(data), n)
		}
		if err != nil {
			if s != nil {
				t.Fatal("DecodeSnapshot returned a result with an error")
			}
			return
		}
		enc, err := feed.AppendSnapshot(nil, s)
		if err != nil {
			t.Fatalf("AppendSnapshot of a decoded snapshot: %v", err)
		}
		if !bytes.Equal(enc, data) {
			t.Fatalf("encoded again %x, read %x", enc, data)
		}
	})
}

// FuzzDecodeManifest: DecodeManifest never panics, and what it reads,
// AppendManifest writes so that DecodeManifest reads it again alike, and
// writes again byte for byte.
func FuzzDecodeManifest(f *testing.F) {
	f.Add(feed.AppendManifest(nil, testManifest()))
	f.Add([]byte(`{"iss":"i","iat":1,"next_update":2,"epoch":"e","seq":3,"snapshot":{"path":"/v1/revocations/snapshots/a.bin","sha256":"` +
		strings.Repeat("0", 64) + `","size":0,"seq":1},"delta":{"path":"/v1/revocations/deltas/b","sha256":"` +
		strings.Repeat("f", 64) + `","size":9,"since":1,"seq":3},"x":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := feed.DecodeManifest(data)
		if err != nil {
			if m != nil {
				t.Fatal("DecodeManifest returned a result with an error")
			}
			return
		}
		enc := feed.AppendManifest(nil, m)
		m2, err := feed.DecodeManifest(enc)
		if err != nil {
			t.Fatalf("DecodeManifest of AppendManifest's output %q: %v", enc, err)
		}
		if *m2 != *m {
			t.Fatalf("decode, encode, decode differs: %+v, then %+v", m, m2)
		}
		if enc2 := feed.AppendManifest(nil, m2); !bytes.Equal(enc2, enc) {
			t.Fatalf("encoded again %q, first %q", enc2, enc)
		}
	})
}
