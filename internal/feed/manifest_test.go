package feed_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/feed"
)

func testManifest() *feed.Manifest {
	snap, delta := sha256.Sum256([]byte("snapshot")), sha256.Sum256([]byte("delta"))
	return &feed.Manifest{Issuer: "https://issuer.test/" + weird[:len(weird)-2], IssuedAt: 1700000000, NextUpdate: 1700000060,
		Epoch: "0123456789abcdef0123456789abcdef", Seq: 42,
		Snapshot: feed.FileRef{Path: feed.SnapshotPath(snap), SHA256: snap, Size: 1234, Seq: 40},
		Delta:    feed.FileRef{Path: feed.DeltaPath(delta), SHA256: delta, Size: 567, Since: 40, Seq: 42}}
}

// TestManifestRoundTrip: what AppendManifest writes, DecodeManifest reads
// back as it was, in the documented JSON.
func TestManifestRoundTrip(t *testing.T) {
	m := testManifest()
	payload := feed.AppendManifest(nil, m)
	got, err := feed.DecodeManifest(payload)
	if err != nil {
		t.Fatalf("%s: %v", payload, err)
	}
	if *got != *m {
		t.Errorf("decoded %+v, want %+v", got, m)
	}
	want := `{"iss":"https://issuer.test/\u003cscript\u003e\u0026\"\\\n\t\u0001\u001f\u2028\u2029é😀","iat":1700000000,"next_update":1700000060,` +
		`"epoch":"0123456789abcdef0123456789abcdef","seq":42,` +
		`"snapshot":{"path":"/v1/revocations/snapshots/` + strings.TrimPrefix(m.Snapshot.Path, feed.SnapshotPrefix) + `","sha256":"` + hex.EncodeToString(m.Snapshot.SHA256[:]) + `","size":1234,"seq":40},` +
		`"delta":{"path":"` + m.Delta.Path + `","sha256":"` + m.Delta.Path[len(feed.DeltaPrefix):len(feed.DeltaPrefix)+64] + `","size":567,"since":40,"seq":42}}`
	if string(payload) != want {
		t.Errorf("payload\n%s\nwant\n%s", payload, want)
	}
	if !strings.HasSuffix(m.Snapshot.Path, ".bin") || !strings.HasSuffix(m.Delta.Path, ".jwt") {
		t.Errorf("paths %q, %q", m.Snapshot.Path, m.Delta.Path)
	}
}

// TestDecodeManifestStrict: DecodeManifest refuses anything but what
// AppendManifest writes, and manifests that cannot be right.
func TestDecodeManifestStrict(t *testing.T) {
	good := string(feed.AppendManifest(nil, testManifest()))
	m := testManifest()
	snapPath, snapHex := m.Snapshot.Path, m.Snapshot.Path[len(feed.SnapshotPrefix):len(feed.SnapshotPrefix)+64]
	replace := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("%q not in the manifest", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	for _, ok := range []string{
		good,
		replace(`"seq":42,`, `"seq":42,"later":[{}],`),
		replace(`"size":1234,`, `"size":1234,"since":7,`), // the snapshot's since is not read
		replace(snapPath, feed.SnapshotPrefix+"a-b_C.9"),
		replace(`"size":1234`, `"size":0`),
	} {
		if _, err := feed.DecodeManifest([]byte(ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	bad := map[string]string{
		"not JSON":              good[:len(good)-1],
		"trailing data":         good + "{}",
		"a member twice":        replace(`"seq":42,`, `"seq":42,"seq":42,`),
		"no iss":                replace(`"iss":`, `"ISS":`),
		"no delta":              replace(`"delta":`, `"deltas":`),
		"no snapshot size":      replace(`"size":1234`, `"Size":1234`),
		"no delta since":        replace(`"since":40`, `"sinc":40`),
		"iat a fraction":        replace(`"iat":1700000000`, `"iat":1700000000.0`),
		"snapshot a string":     replace(`"snapshot":{`, `"snapshot":"x","x":{`),
		"sha256 uppercase":      replace(`"sha256":"`+snapHex, `"sha256":"`+strings.ToUpper(snapHex)),
		"sha256 short":          replace(`"sha256":"`+snapHex, `"sha256":"`+snapHex[:62]),
		"sha256 not hex":        replace(`"sha256":"`+snapHex, `"sha256":"g`+snapHex[1:]),
		"path relative":         replace(snapPath, snapPath[1:]),
		"path of the delta":     replace(snapPath, feed.DeltaPrefix+"x.bin"),
		"path with ..":          replace(snapPath, feed.SnapshotPrefix+"a..b"),
		"path dot file":         replace(snapPath, feed.SnapshotPrefix+".bin"),
		"path up":               replace(snapPath, feed.SnapshotPrefix+"../../keys"),
		"path with a query":     replace(snapPath, snapPath+"?x=1"),
		"path with a fragment":  replace(snapPath, snapPath+"#x"),
		"path with a slash":     replace(snapPath, feed.SnapshotPrefix+"a/b"),
		"path escaped":          replace(snapPath, feed.SnapshotPrefix+"%2e%2e"),
		"path empty name":       replace(snapPath, feed.SnapshotPrefix),
		"path name too long":    replace(snapPath, feed.SnapshotPrefix+strings.Repeat("a", 129)),
		"size negative":         replace(`"size":1234`, `"size":-1`),
		"size above the limit":  replace(`"size":1234`, `"size":67108865`),
		"delta not at snapshot": replace(`"since":40`, `"since":39`),
		"delta not at seq":      replace(`"since":40,"seq":42`, `"since":40,"seq":41`),
		"delta backwards":       strings.Replace(replace(`"since":40,"seq":42`, `"since":40,"seq":39`), `"seq":42,`, `"seq":39,`, 1),
	}
	for name, p := range bad {
		t.Run(name, func(t *testing.T) {
			if m, err := feed.DecodeManifest([]byte(p)); !errors.Is(err, feed.ErrMalformed) || m != nil {
				t.Errorf("%s: %v, want ErrMalformed", p, err)
			}
		})
	}
	if _, err := feed.DecodeManifest([]byte(`{"iss":"` + strings.Repeat("a", feed.MaxManifestSize) + `"}`)); !errors.Is(err, feed.ErrTooLarge) {
		t.Errorf("a manifest above MaxManifestSize: %v, want ErrTooLarge", err)
	}
}
