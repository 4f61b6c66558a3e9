package feed

import (
	"slices"
	"strconv"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/internal/jsonx"
)

// Head is the start of a payload: who signed it and when, and which
// changes of which list its entries are.
type Head struct {
	Issuer   string // iss: the writ server that signs the feed
	IssuedAt int64  // iat: when it signed this document
	Epoch    string // epoch: the list's Batch.Epoch
	// Since and Seq bound the entries: the changes after Since, up to
	// Seq. A server may start a document before the since a reader asked
	// for: entries a reader holds already change nothing.
	Since      int64
	Seq        int64
	NextUpdate int64 // next_update: when the server signs a fresh document
}

// Append appends the payload of h and b's entries to dst.
func Append(dst []byte, h *Head, b *Batch) []byte {
	return AppendEntries(AppendHead(dst, h), b)
}

// AppendHead appends the start of a payload to dst: its opening brace, the
// members of h, and the comma before the entries that AppendEntries
// appends. A server builds the entries once for a state of its list and
// signs them again under fresh heads.
func AppendHead(dst []byte, h *Head) []byte {
	dst = jsonx.AppendString(append(dst, `{"iss":`...), h.Issuer)
	dst = strconv.AppendInt(append(dst, `,"iat":`...), h.IssuedAt, 10)
	dst = jsonx.AppendString(append(dst, `,"epoch":`...), h.Epoch)
	dst = strconv.AppendInt(append(dst, `,"since":`...), h.Since, 10)
	dst = strconv.AppendInt(append(dst, `,"seq":`...), h.Seq, 10)
	dst = strconv.AppendInt(append(dst, `,"next_update":`...), h.NextUpdate, 10)
	return append(dst, ',')
}

// AppendEntries appends the members tokens, subjects and keys for b's
// entries, and the payload's closing brace, to dst. b's Seq, Epoch and
// AsOf are not written: the head carries them.
func AppendEntries(dst []byte, b *Batch) []byte {
	// Room for the usual entry sizes, made once: token entries take at most
	// 49 bytes.
	dst = slices.Grow(dst, 64+len(b.Tokens)*49+len(b.Subjects)*64+len(b.Keys)*80)
	dst = append(dst, `"tokens":[`...)
	for i, t := range b.Tokens {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = b64.AppendEncode(append(dst, `["`...), t.ID[:])
		dst = strconv.AppendInt(append(dst, `",`...), t.EffectiveAt, 10)
		dst = strconv.AppendInt(append(dst, ','), t.ExpiresAt, 10)
		dst = append(dst, ']')
	}
	dst = append(dst, `],"subjects":[`...)
	for i, c := range b.Subjects {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonx.AppendString(append(dst, '['), c.Subject)
		dst = strconv.AppendInt(append(dst, ','), c.IssuedBefore, 10)
		dst = strconv.AppendInt(append(dst, ','), c.ExpiresAt, 10)
		dst = append(dst, ']')
	}
	dst = append(dst, `],"keys":[`...)
	for i, k := range b.Keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonx.AppendString(append(dst, '['), k.KID)
		dst = strconv.AppendInt(append(dst, ','), k.ExpiresAt, 10)
		dst = append(dst, ']')
	}
	return append(dst, "]}"...)
}
