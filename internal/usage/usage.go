// Package usage is the wire format of usage reports: the body of
// POST /v1/usage, in which verifiers tell writ serve how the tokens they
// verified were used.
//
//	{"uses":[{"jti":"…","at":"2026-11-30T12:00:00Z","client_ip":"203.0.113.9","outcome":"accepted"}]}
//
// The report is JSON so that verifiers in any language can send it; Append
// writes it and Parse reads it, strictly and within fixed bounds.
package usage

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/jsonx"
)

// MaxUses is the most uses one report holds.
const MaxUses = 10000

// MaxJTI is the longest jti a report names, in bytes.
const MaxJTI = 128

// MaxOutcome is the longest outcome, in bytes.
const MaxOutcome = 32

// MaxBody is the largest report Parse reads, in bytes: MaxUses uses with
// the longest values fit, even escaped as Append escapes them (a jti of
// MaxJTI bytes of "<", written \u003c, takes 768).
const MaxBody = 10 << 20

// Outcomes that writ's own verifiers report. Accepted means the token
// verified; the others name why it was refused. A report may carry other
// outcomes of the same form (see Parse), from verifiers that know other
// reasons.
const (
	Accepted     = "accepted"
	Revoked      = "revoked"
	Expired      = "expired"
	NotYetValid  = "not_yet_valid"
	Audience     = "audience"
	Issuer       = "issuer"
	ClientIP     = "ip"
	Permission   = "permission"
	Scope        = "scope"
	Unverifiable = "unverifiable" // unknown key or algorithm, refused before the signature was checked
	Unavailable  = "unavailable"  // the verifier could not check revocation (data too stale)
)

// Use is one use of a token: a verifier was presented the token jti at At
// by a client at Client (the zero Addr when unknown), with Outcome.
type Use struct {
	JTI     string
	At      time.Time
	Client  netip.Addr
	Outcome string
}

// ErrMalformed is wrapped by every error of Parse.
var ErrMalformed = errors.New("malformed usage report")

// Append appends the report of uses to dst. It writes At in UTC at second
// precision, and omits client_ip when Client is the zero Addr.
func Append(dst []byte, uses []Use) []byte {
	dst = append(dst, `{"uses":[`...)
	// Uses of one report mostly share their second: its text is copied
	// from where it was last written, dst[at:atEnd].
	var sec int64
	at, atEnd := 0, 0
	for i, u := range uses {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"jti":`...)
		dst = jsonx.AppendString(dst, u.JTI)
		dst = append(dst, `,"at":"`...)
		if s := u.At.Unix(); atEnd > 0 && s == sec {
			dst = append(dst, dst[at:atEnd]...)
		} else {
			at, sec = len(dst), s
			dst = u.At.UTC().AppendFormat(dst, time.RFC3339)
			atEnd = len(dst)
		}
		dst = append(dst, '"')
		if u.Client.IsValid() {
			dst = append(dst, `,"client_ip":"`...)
			dst = u.Client.Unmap().WithZone("").AppendTo(dst)
			dst = append(dst, '"')
		}
		dst = append(dst, `,"outcome":`...)
		dst = jsonx.AppendString(dst, u.Outcome)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// Parse reads a report. It refuses, with an error wrapping ErrMalformed
// that names the first fault, a body that is not one JSON object with
// exactly the member "uses" (an array of at most MaxUses objects), or a
// use that lacks or repeats a member, has one of another name, or whose
// jti is empty, longer than MaxJTI or not printable ASCII, whose at is
// not an RFC 3339 time, whose client_ip is not an IP address, or whose
// outcome is not 1 to MaxOutcome bytes of [a-z0-9_] starting with a
// letter. Client addresses come back unmapped, without zone.
func Parse(body []byte) ([]Use, error) {
	if len(body) > MaxBody {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(body), MaxBody)
	}
	var uses []Use
	seen := false
	err := jsonx.Members(body, func(name []byte, v jsonx.Value) error {
		if string(name) != "uses" {
			return fmt.Errorf("unknown member %q", name)
		}
		seen = true
		if v.Kind != jsonx.Array {
			return errors.New(`"uses" is not an array`)
		}
		return v.Elements(func(e jsonx.Value) error {
			if len(uses) == MaxUses {
				return fmt.Errorf("more than %d uses", MaxUses)
			}
			u, err := parseUse(e)
			if err != nil {
				return fmt.Errorf("use %d: %w", len(uses), err)
			}
			uses = append(uses, u)
			return nil
		})
	})
	if err == nil && !seen {
		err = errors.New(`missing member "uses"`)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return uses, nil
}

func parseUse(v jsonx.Value) (Use, error) {
	var u Use
	if v.Kind != jsonx.Object {
		return u, errors.New("not an object")
	}
	var at string
	err := jsonx.Members(v.Raw(), func(name []byte, m jsonx.Value) error {
		if m.Kind != jsonx.String {
			return fmt.Errorf("%q is not a string", name)
		}
		s, err := m.Str()
		if err != nil {
			return err
		}
		switch string(name) {
		case "jti":
			u.JTI = s
		case "at":
			at = s
		case "client_ip":
			a, err := netip.ParseAddr(s)
			if err != nil {
				return fmt.Errorf("client_ip %q is not an IP address", s)
			}
			u.Client = a.Unmap().WithZone("")
		case "outcome":
			u.Outcome = s
		default:
			return fmt.Errorf("unknown member %q", name)
		}
		return nil
	})
	if err != nil {
		return u, err
	}
	switch {
	case !IsJTI(u.JTI):
		return u, fmt.Errorf("jti %q is not 1 to %d printable ASCII characters", u.JTI, MaxJTI)
	case !IsOutcome(u.Outcome):
		return u, fmt.Errorf("outcome %q is not 1 to %d characters of [a-z0-9_] starting with a letter", u.Outcome, MaxOutcome)
	}
	// RFC 3339 (§5.6) allows a lowercase t and z, which time.Parse
	// does not: the other characters of a time are digits and signs.
	if u.At, err = time.Parse(time.RFC3339, strings.ToUpper(at)); err != nil {
		return u, fmt.Errorf("at %q is not an RFC 3339 time", at)
	}
	return u, nil
}

// IsOutcome reports whether s is a well-formed outcome: 1 to MaxOutcome
// bytes of [a-z0-9_], starting with a letter.
func IsOutcome(s string) bool {
	if s == "" || len(s) > MaxOutcome || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// IsJTI reports whether s is a jti a report may name: 1 to MaxJTI bytes
// of printable ASCII, no space.
func IsJTI(s string) bool {
	if s == "" || len(s) > MaxJTI {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
