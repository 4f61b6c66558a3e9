package paserk

import (
	"github.com/writ-dev/writ/internal/jsonx"
)

// SetEntry is one key of a PASERK set, the key set of PASETO v4 public
// keys that writ publishes (at /.well-known/paserk.json) and verifiers
// read:
//
//	{"keys":[{"kid":"k4.pid.…","paserk":"k4.public.…"},…]}
//
// The container, {"keys":[…]}, is a JWKS's (RFC 7517 §5): the verifier
// reads it for both kinds of set, and each element with ParseSetEntry.
type SetEntry struct {
	KID    string // "kid": the key's k4.pid
	PASERK string // "paserk": the key, k4.public.… in a set writ publishes
}

// AppendSet appends the PASERK set of keys, in their order, to dst, as
// encoding/json would write it; a set of no keys is {"keys":[]}.
func AppendSet(dst []byte, keys []SetEntry) []byte {
	dst = append(dst, `{"keys":[`...)
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonx.AppendString(append(dst, `{"kid":`...), k.KID)
		dst = jsonx.AppendString(append(dst, `,"paserk":`...), k.PASERK)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// SetMembers is what ParseSetEntry read of an element of a set.
type SetMembers struct {
	SetEntry
	// HasKID and HasPASERK say whether the element holds "kid" and
	// "paserk" as strings.
	HasKID, HasPASERK bool
	// NotString is the first of "kid" and "paserk", in the element's
	// order, whose value is not a string, or "".
	NotString string
}

// ParseSetEntry reads data, an element of a PASERK set's "keys" array, a
// JSON object, strictly (internal/jsonx: names compared exactly, never
// case-folded, none twice, valid UTF-8); members other than "kid" and
// "paserk" are ignored. An error (wrapping jsonx's) means the element, and
// so the set, cannot be read. Otherwise the members it holds are returned
// for the caller to judge: a missing or misshapen member makes the key
// unusable, not the set unreadable (as RFC 7517 §5 has it for a JWKS).
func ParseSetEntry(data []byte) (SetMembers, error) {
	var m SetMembers
	err := jsonx.Members(data, func(name []byte, v jsonx.Value) error {
		var dst *string
		var has *bool
		switch string(name) {
		case "kid":
			dst, has = &m.KID, &m.HasKID
		case "paserk":
			dst, has = &m.PASERK, &m.HasPASERK
		default:
			return nil
		}
		s, err := v.Str()
		if err != nil {
			if m.NotString == "" {
				m.NotString = string(name)
			}
			return nil
		}
		*dst, *has = s, true
		return nil
	})
	if err != nil {
		return SetMembers{}, err
	}
	return m, nil
}
