package accesstoken

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unsafe"

	"github.com/writ-dev/writ/internal/jsonx"
)

// ParseJWTClaims reads the JSON payload of a JWT into c, its times as
// NumericDates (RFC 7519 §2: a non-negative number of seconds, a fraction
// allowed, up to the end of year 9999). See ParsePASETOClaims for the rest.
func ParseJWTClaims(payload []byte, c *Claims) error { return parseClaims(payload, c, false) }

// ParsePASETOClaims reads the JSON message of a PASETO token into c, its
// times as RFC 3339 strings of a year up to 9999.
//
// Both parsers read strictly, with internal/jsonx: member names compared
// exactly (never case-folded), none twice, valid UTF-8, nothing after the
// object. iss, sub, jti, scope and client_id must be non-empty strings; aud
// a non-empty string or an array of them; allowed_ips a non-empty array of
// at most MaxAllowedIPs of them; exp, iat and nbf dates. iss, sub,
// aud, exp, iat and jti are required. Other members are ignored. The
// audiences are appended to c.Audience[:0], so that a caller can lend room
// for them. The strings of c share payload's memory unless they hold
// escapes: payload must never be written again.
//
// The error says which claim is wrong, or which is missing; it does not
// quote the claims.
func ParsePASETOClaims(message []byte, c *Claims) error { return parseClaims(message, c, true) }

func parseClaims(data []byte, c *Claims, rfc3339 bool) error {
	date := numericDate
	if rfc3339 {
		date = rfc3339Date
	}
	err := jsonx.Members(data, func(name []byte, v jsonx.Value) error {
		var err error
		switch string(name) {
		case "iss":
			c.Issuer, err = str(v)
		case "sub":
			c.Subject, err = str(v)
		case "jti":
			c.ID, err = str(v)
		case "scope":
			c.Scope, err = str(v)
		case "client_id":
			c.ClientID, err = str(v)
		case "aud":
			err = c.parseAudience(v)
		case "allowed_ips":
			err = c.parseAllowedIPs(v)
		case "exp":
			c.ExpiresAt, err = date(v)
		case "iat":
			c.IssuedAt, err = date(v)
		case "nbf":
			c.NotBefore, err = date(v)
		default:
			return nil
		}
		if err != nil {
			return fmt.Errorf("claim %q: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var missing string
	switch {
	case c.Issuer == "":
		missing = "iss"
	case c.Subject == "":
		missing = "sub"
	case len(c.Audience) == 0:
		missing = "aud"
	case c.ExpiresAt.IsZero():
		missing = "exp"
	case c.IssuedAt.IsZero():
		missing = "iat"
	case c.ID == "":
		missing = "jti"
	default:
		return nil
	}
	return fmt.Errorf("no %q", missing)
}

func (c *Claims) parseAudience(v jsonx.Value) error {
	c.Audience = c.Audience[:0]
	if v.Kind == jsonx.String {
		s, err := str(v)
		c.Audience = append(c.Audience, s)
		return err
	}
	err := v.Elements(func(e jsonx.Value) error {
		s, err := str(e)
		if err != nil {
			return err
		}
		c.Audience = append(c.Audience, s)
		return nil
	})
	if err != nil {
		return errors.New("want a string or an array of strings")
	}
	return nil
}

// parseAllowedIPs reads allowed_ips: a non-empty array of at most
// MaxAllowedIPs non-empty strings. What each string says, the verifier
// checks.
func (c *Claims) parseAllowedIPs(v jsonx.Value) error {
	c.AllowedIPs = c.AllowedIPs[:0]
	err := v.Elements(func(e jsonx.Value) error {
		if len(c.AllowedIPs) == MaxAllowedIPs {
			return errTooManyPrefixes
		}
		s, err := str(e)
		if err != nil {
			return err
		}
		c.AllowedIPs = append(c.AllowedIPs, s)
		return nil
	})
	switch {
	case errors.Is(err, errTooManyPrefixes):
		return err
	case err != nil || len(c.AllowedIPs) == 0:
		return errors.New("want a non-empty array of strings")
	}
	return nil
}

// errTooManyPrefixes is built without fmt: a package variable is built at
// every program's start, and fmt's first use there costs a verifier's cold
// start tens of microseconds.
var errTooManyPrefixes = errors.New("more than " + strconv.Itoa(MaxAllowedIPs) + " prefixes")

// maxDate is the last second of year 9999: later dates are malformed.
const maxDate = 253402300799

func numericDate(v jsonx.Value) (time.Time, error) {
	if sec, ok := wholeSeconds(v); ok {
		return time.Unix(sec, 0), nil
	}
	f, err := v.Float()
	if err != nil || f < 0 || f > maxDate {
		return time.Time{}, errors.New("want a NumericDate")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}

// wholeSeconds reads the usual NumericDate, a non-negative integer of at
// most 12 digits (up to maxDate), without a float conversion.
func wholeSeconds(v jsonx.Value) (int64, bool) {
	raw := v.Raw()
	if v.Kind != jsonx.Number || len(raw) == 0 || len(raw) > 12 {
		return 0, false
	}
	var sec int64
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, false
		}
		sec = sec*10 + int64(c-'0')
	}
	return sec, sec <= maxDate
}

func rfc3339Date(v jsonx.Value) (time.Time, error) {
	b, err := v.Bytes()
	if err != nil {
		return time.Time{}, errors.New("want an RFC 3339 date string")
	}
	t, err := time.Parse(time.RFC3339, bytesToString(b))
	if err != nil || t.Year() > 9999 {
		return time.Time{}, errors.New("want an RFC 3339 date string")
	}
	return t, nil
}

// str reads a non-empty string value. The result shares the claims' memory
// unless the string had escapes.
func str(v jsonx.Value) (string, error) {
	b, err := v.Bytes()
	if err != nil || len(b) == 0 {
		return "", errors.New("want a non-empty string")
	}
	return bytesToString(b), nil
}

// bytesToString returns a string sharing b's memory. Callers pass only
// buffers that are never written again: decoded token parts.
func bytesToString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
