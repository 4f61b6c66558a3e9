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

// The members of a manifest and of a file reference, by their index in
// manifestMembers and fileMembers.
const (
	manifestIss = iota
	manifestIat
	manifestNextUpdate
	manifestEpoch
	manifestSeq
	manifestSnapshot
	manifestDelta
)

var manifestMembers = [...]string{"iss", "iat", "next_update", "epoch", "seq", "snapshot", "delta"}

const (
	filePath = iota
	fileSHA256
	fileSize
	fileSeq
	fileSince // a delta's only
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
	err := object(payload, manifestMembers[:], func(member int, v jsonx.Value) error {
		var err error
		switch member {
		case manifestIss:
			m.Issuer, err = v.Str()
		case manifestIat:
			m.IssuedAt, err = integer(v)
		case manifestNextUpdate:
			m.NextUpdate, err = integer(v)
		case manifestEpoch:
			m.Epoch, err = v.Str()
		case manifestSeq:
			m.Seq, err = integer(v)
		case manifestSnapshot:
			err = fileRef(v, &m.Snapshot, SnapshotPrefix, MaxSnapshotSize, false)
		case manifestDelta:
			err = fileRef(v, &m.Delta, DeltaPrefix, MaxSize, true)
		}
		return err
	})
	if err != nil {
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

// fileRef reads a file reference into f: a path under prefix, a size up to
// maxSize, and a since member if since.
func fileRef(v jsonx.Value, f *FileRef, prefix string, maxSize int64, since bool) error {
	if v.Kind != jsonx.Object {
		return jsonx.ErrType
	}
	names := fileMembers[:fileSince] // a snapshot's since is ignored
	if since {
		names = fileMembers[:]
	}
	return object(v.Raw(), names, func(member int, v jsonx.Value) error {
		var err error
		switch member {
		case filePath:
			f.Path, err = v.Str()
			if err == nil && !validPath(f.Path, prefix) {
				err = fmt.Errorf("%q is not a path under %q", f.Path, prefix)
			}
		case fileSHA256:
			err = sha256Hex(v, &f.SHA256)
		case fileSize:
			f.Size, err = integer(v)
			if err == nil && (f.Size < 0 || f.Size > maxSize) {
				err = fmt.Errorf("size %d not in [0, %d]", f.Size, maxSize)
			}
		case fileSeq:
			f.Seq, err = integer(v)
		case fileSince:
			f.Since, err = integer(v)
		}
		return err
	})
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
