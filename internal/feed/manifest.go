package feed

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/writ-dev/writ/internal/jsonx"
)

// ManifestType is the JWS typ of a signed manifest.
const ManifestType = "writ-revocation-manifest+jwt"

// The URL paths, under the issuer URL, of the revocation files that a
// manifest names: SnapshotPrefix + name for a snapshot file, DeltaPrefix +
// name for a delta (a signed feed document). writ names them by the
// SHA-256 of their bytes (SnapshotPath, DeltaPath).
const (
	ManifestPath   = "/v1/revocations/manifest"
	SnapshotPrefix = "/v1/revocations/snapshots/"
	DeltaPrefix    = "/v1/revocations/deltas/"
)

// SnapshotPath returns the content-addressed path of a snapshot file whose
// bytes have the SHA-256 sum.
func SnapshotPath(sum [32]byte) string {
	return SnapshotPrefix + hex.EncodeToString(sum[:]) + ".bin"
}

// DeltaPath returns the content-addressed path of a delta whose bytes have
// the SHA-256 sum.
func DeltaPath(sum [32]byte) string {
	return DeltaPrefix + hex.EncodeToString(sum[:]) + ".jwt"
}

// MaxManifestSize bounds a manifest payload that DecodeManifest reads.
const MaxManifestSize = 64 << 10

// Manifest is the payload of the signed document (a JWS of type
// ManifestType, signed by the feed's key) that names the current snapshot
// and delta of a revocation list:
//
//	{"iss":ISSUER,"iat":SIGNED,"next_update":NEXT,"epoch":EPOCH,"seq":SEQ,
//	 "snapshot":{"path":PATH,"sha256":HEX,"size":BYTES,"seq":SNAPSHOT_SEQ},
//	 "delta":{"path":PATH,"sha256":HEX,"size":BYTES,"since":SNAPSHOT_SEQ,"seq":SEQ}}
//
// It is small, and signed again with a fresh iat at least every refresh
// interval: a verifier counts its staleness from IssuedAt, so a replayed
// old manifest fails closed past its bound, as the feed does.
type Manifest struct {
	Issuer     string // iss
	IssuedAt   int64  // iat
	NextUpdate int64  // next_update
	Epoch      string
	Seq        int64   // the state the manifest describes: the delta's Seq
	Snapshot   FileRef // the binary snapshot file (Since 0, Seq the snapshot's)
	// Delta is a signed feed document (Type) of the changes after
	// Snapshot.Seq up to Seq: Since is Snapshot.Seq.
	Delta FileRef
}

// FileRef names a file of a manifest and what it holds.
type FileRef struct {
	Path       string   // URL path under the issuer URL (SnapshotPrefix or DeltaPrefix + name)
	SHA256     [32]byte // of the file's bytes (lowercase hex in JSON)
	Size       int64    // of the file, in bytes
	Since, Seq int64    // the changes after Since up to Seq; a snapshot's Since is 0
}

// AppendManifest appends the JSON payload of m to dst, byte for byte as
// encoding/json would. The snapshot's Since is not written: it is 0.
func AppendManifest(dst []byte, m *Manifest) []byte {
	dst = jsonx.AppendString(append(dst, `{"iss":`...), m.Issuer)
	dst = strconv.AppendInt(append(dst, `,"iat":`...), m.IssuedAt, 10)
	dst = strconv.AppendInt(append(dst, `,"next_update":`...), m.NextUpdate, 10)
	dst = jsonx.AppendString(append(dst, `,"epoch":`...), m.Epoch)
	dst = strconv.AppendInt(append(dst, `,"seq":`...), m.Seq, 10)
	dst = appendFileRef(append(dst, `,"snapshot":`...), &m.Snapshot, false)
	dst = appendFileRef(append(dst, `,"delta":`...), &m.Delta, true)
	return append(dst, '}')
}

func appendFileRef(dst []byte, f *FileRef, since bool) []byte {
	dst = jsonx.AppendString(append(dst, `{"path":`...), f.Path)
	dst = hex.AppendEncode(append(dst, `,"sha256":"`...), f.SHA256[:])
	dst = strconv.AppendInt(append(dst, `","size":`...), f.Size, 10)
	if since {
		dst = strconv.AppendInt(append(dst, `,"since":`...), f.Since, 10)
	}
	dst = strconv.AppendInt(append(dst, `,"seq":`...), f.Seq, 10)
	return append(dst, '}')
}

// The members of a manifest and of a file reference, as bits of a set.
const (
	mIss = 1 << iota
	mIat
	mNextUpdate
	mEpoch
	mSeq
	mSnapshot
	mDelta
)

var manifestMembers = [...]string{"iss", "iat", "next_update", "epoch", "seq", "snapshot", "delta"}

const (
	fPath = 1 << iota
	fSHA256
	fSize
	fSeq
	fSince
)

var fileMembers = [...]string{"path", "sha256", "size", "seq", "since"}

// DecodeManifest reads a manifest payload strictly (internal/jsonx, as
// Decode does): every member that AppendManifest writes, each of its type
// (integers of 64 bits without fraction or exponent, a SHA-256 of 64
// lowercase hex digits); other members are ignored. It also refuses a
// manifest that cannot be right whatever the list: a path that is not
// SnapshotPrefix (for the snapshot) or DeltaPrefix (for the delta) followed
// by a name of 1 to 128 letters, digits, '-', '_' and '.' not starting
// with '.' (so no "..", query or fragment), a negative size or one above
// MaxSnapshotSize or MaxSize, a delta whose Since is not the snapshot's Seq
// or whose Seq is not the manifest's or is below its Since. Errors wrap
// ErrMalformed or ErrTooLarge.
//
// The caller checks the issuer, the epoch, the signing time and the
// files' hashes.
func DecodeManifest(payload []byte) (*Manifest, error) {
	if len(payload) > MaxManifestSize {
		return nil, fmt.Errorf("%w: a manifest of %d bytes, limit %d", ErrTooLarge, len(payload), MaxManifestSize)
	}
	m := &Manifest{}
	var seen int
	err := jsonx.Members(payload, func(name []byte, v jsonx.Value) error {
		var err error
		switch string(name) {
		case "iss":
			seen |= mIss
			m.Issuer, err = v.Str()
		case "iat":
			seen |= mIat
			m.IssuedAt, err = integer(v)
		case "next_update":
			seen |= mNextUpdate
			m.NextUpdate, err = integer(v)
		case "epoch":
			seen |= mEpoch
			m.Epoch, err = v.Str()
		case "seq":
			seen |= mSeq
			m.Seq, err = integer(v)
		case "snapshot":
			seen |= mSnapshot
			err = fileRef(v, &m.Snapshot, SnapshotPrefix, MaxSnapshotSize, false)
		case "delta":
			seen |= mDelta
			err = fileRef(v, &m.Delta, DeltaPrefix, MaxSize, true)
		default:
			return nil
		}
		if err != nil {
			return fmt.Errorf("member %q: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: manifest: %w", ErrMalformed, err)
	}
	if err := missing(seen, manifestMembers[:]); err != nil {
		return nil, fmt.Errorf("%w: manifest: %w", ErrMalformed, err)
	}
	switch {
	case m.Delta.Since != m.Snapshot.Seq:
		return nil, fmt.Errorf("%w: manifest: the delta starts at %d, the snapshot is at %d", ErrMalformed, m.Delta.Since, m.Snapshot.Seq)
	case m.Delta.Seq != m.Seq || m.Delta.Seq < m.Delta.Since:
		return nil, fmt.Errorf("%w: manifest: the delta runs from %d to %d, the manifest is at %d", ErrMalformed, m.Delta.Since, m.Delta.Seq, m.Seq)
	}
	return m, nil
}

// missing returns an error naming the first of names whose bit is not in
// seen.
func missing(seen int, names []string) error {
	for i, n := range names {
		if seen&(1<<i) == 0 {
			return fmt.Errorf("no %q", n)
		}
	}
	return nil
}

// fileRef reads a file reference into f: a path under prefix, a size up to
// maxSize, and a since member if since.
func fileRef(v jsonx.Value, f *FileRef, prefix string, maxSize int64, since bool) error {
	if v.Kind != jsonx.Object {
		return jsonx.ErrType
	}
	var seen int
	err := jsonx.Members(v.Raw(), func(name []byte, v jsonx.Value) error {
		var err error
		switch string(name) {
		case "path":
			seen |= fPath
			f.Path, err = v.Str()
			if err == nil && !validPath(f.Path, prefix) {
				err = fmt.Errorf("%q is not a path under %q", f.Path, prefix)
			}
		case "sha256":
			seen |= fSHA256
			err = sha256Hex(v, &f.SHA256)
		case "size":
			seen |= fSize
			f.Size, err = integer(v)
			if err == nil && (f.Size < 0 || f.Size > maxSize) {
				err = fmt.Errorf("size %d not in [0, %d]", f.Size, maxSize)
			}
		case "seq":
			seen |= fSeq
			f.Seq, err = integer(v)
		case "since":
			if !since {
				return nil
			}
			seen |= fSince
			f.Since, err = integer(v)
		default:
			return nil
		}
		if err != nil {
			return fmt.Errorf("member %q: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	names := fileMembers[:4]
	if since {
		names = fileMembers[:]
	}
	return missing(seen, names)
}

// validPath reports whether p is prefix followed by a name that
// DecodeManifest accepts.
func validPath(p, prefix string) bool {
	name, ok := strings.CutPrefix(p, prefix)
	if !ok || len(name) == 0 || len(name) > 128 || name[0] == '.' {
		return false
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return !strings.Contains(name, "..")
}

var errSHA256 = errors.New("want 64 lowercase hex digits")

func sha256Hex(v jsonx.Value, sum *[32]byte) error {
	b, err := v.Bytes()
	if err != nil {
		return err
	}
	if len(b) != 64 {
		return errSHA256
	}
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return errSHA256
		}
	}
	_, err = hex.Decode(sum[:], b)
	return err
}
