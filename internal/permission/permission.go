// Package permission is the grammar of writ's resource permissions and the
// rules that decide them, the same in the verifier (offline), the issuer
// and the server.
//
// A scope of the form RESOURCE:ACTION is a permission. RESOURCE is a path
// of segments of [A-Za-z0-9._-] separated by '/'; in a granted permission
// a segment may be "*" (exactly one segment) and the last may be "**"
// (zero or more segments). ACTION is a word of [a-z0-9_-]; admin implies
// write, write implies read, and every other action only itself. A scope
// without ':' is a flat scope, matched exactly. A scope holding "://" is a
// URI (as some providers name their scopes) and flat too.
//
// The matchers allocate nothing: the verifier runs them on every request.
package permission

import (
	"errors"
	"fmt"
	"strings"
)

// The actions that imply others.
const (
	Read  = "read"
	Write = "write"
	Admin = "admin"
)

// Wildcard segments of a granted resource.
const (
	One  = "*"  // exactly one segment
	Rest = "**" // zero or more segments; last only
)

// IsPermission reports whether scope is a permission: RESOURCE:ACTION
// as Check accepts it. Any other scope is flat, matched exactly as scopes
// always were: one without ':', a URI (https://…, urn:example:orders), or
// one that breaks the grammar (orders:Read); it allows no resource.
func IsPermission(scope string) bool {
	return strings.IndexByte(scope, ':') >= 0 && Check(scope) == nil
}

// Split returns the resource and the action of a scope written as a
// permission: what precedes and what follows its last ':'.
func Split(scope string) (resource, action string) {
	i := strings.LastIndexByte(scope, ':')
	if i < 0 {
		return "", ""
	}
	return scope[:i], scope[i+1:]
}

// Check returns nil when scope is a valid granted permission, or an error
// saying what is wrong with it.
func Check(scope string) error {
	resource, action := Split(scope)
	if err := checkResource(resource, true); err != nil {
		return fmt.Errorf("permission %q: %w", scope, err)
	}
	if err := checkAction(action); err != nil {
		return fmt.Errorf("permission %q: %w", scope, err)
	}
	return nil
}

// CheckRequest returns nil when resource and action name one thing to be
// allowed: a resource without wildcards and a valid action. A resource
// whose first segment is "writ" is refused: writ's own scopes (writ:admin)
// are never granted through a permission's wildcard (*:admin), and are
// checked as the flat scopes they are.
func CheckRequest(resource, action string) error {
	if err := checkResource(resource, false); err != nil {
		return fmt.Errorf("resource %q: %w", resource, err)
	}
	if first, _, _ := strings.Cut(resource, "/"); first == "writ" {
		return fmt.Errorf("resource %q: %w", resource, errWrit)
	}
	if err := checkAction(action); err != nil {
		return fmt.Errorf("action %q: %w", action, err)
	}
	return nil
}

var (
	errEmptySegment = errors.New("want segments of A-Z a-z 0-9 . _ - separated by single '/'")
	errDotSegment   = errors.New(`"." and ".." are not segments`)
	errRestNotLast  = errors.New(`"**" may only be the last segment`)
	errWildcard     = errors.New("a requested resource has no wildcards")
	errSegmentChar  = errors.New("a segment holds only A-Z a-z 0-9 . _ -")
	errAction       = errors.New("want an action of a-z 0-9 _ -")
	errWrit         = errors.New("writ's own scopes are not permissions: require the scope itself")
)

func checkResource(resource string, wildcards bool) error {
	if resource == "" {
		return errEmptySegment
	}
	for rest := resource; ; {
		seg, after, more := strings.Cut(rest, "/")
		switch {
		case seg == "":
			return errEmptySegment
		case seg == "." || seg == "..":
			return errDotSegment
		case seg == One || seg == Rest:
			if !wildcards {
				return errWildcard
			}
			if seg == Rest && more {
				return errRestNotLast
			}
		default:
			for i := 0; i < len(seg); i++ {
				if !segmentChar(seg[i]) {
					return errSegmentChar
				}
			}
		}
		if !more {
			return nil
		}
		rest = after
	}
}

func checkAction(action string) error {
	if action == "" {
		return errAction
	}
	for i := 0; i < len(action); i++ {
		c := action[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return errAction
		}
	}
	return nil
}

func segmentChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

// actionImplies reports whether holding action have allows action want.
func actionImplies(have, want string) bool {
	if have == want {
		return true
	}
	switch have {
	case Admin:
		return want == Write || want == Read
	case Write:
		return want == Read
	}
	return false
}

// Allows reports whether scopes, a space-separated scope claim, hold a
// permission that allows action on resource. A resource or action that is
// not valid (see CheckRequest) is never allowed, and flat scopes allow
// nothing here.
func Allows(scopes, resource, action string) bool {
	if CheckRequest(resource, action) != nil {
		return false
	}
	// Each scope is compared with the resource as far as they agree,
	// eight bytes at a time (see scan.go), and goes on to match only if
	// it can still allow it where they part: at a wildcard, or at the
	// end of the resource. Most scopes part at their first bytes.
	for i := 0; i < len(scopes); {
		j, end := part(scopes, i, resource)
		if j < end {
			switch c, done := scopes[j], j-i == len(resource); {
			case c == '*', done && (c == ':' || c == '/'):
				if match(scopes[i:end], resource, action) {
					return true
				}
			}
		}
		i = end + 1
	}
	return false
}

// match reports whether the granted scope allows action on resource,
// which CheckRequest must have accepted. A granted scope that is not a
// valid permission matches nothing: it is not checked as a whole (that
// would cost the verifier a pass over every scope), but a segment or
// action that breaks the grammar never equals a valid one, and "**"
// matches only where it is valid, last.
func match(scope, resource, action string) bool {
	i := strings.LastIndexByte(scope, ':')
	return i >= 0 && actionImplies(scope[i+1:], action) && matchResource(scope[:i], resource)
}

// matchResource reports whether the granted resource pattern matches
// resource, which is valid. It walks both once, byte by byte, without
// splitting them: the verifier runs it for every candidate scope.
func matchResource(pattern, resource string) bool {
	for {
		// Both are at the start of a segment.
		if pattern == Rest {
			return true // zero or more segments: whatever is left
		}
		if resource == "" {
			return false // the pattern wants a segment more
		}
		if pattern != "" && pattern[0] == '*' && (len(pattern) == 1 || pattern[1] == '/') {
			// "*": one segment of the resource, whatever it is.
			pattern = pattern[1:]
			if i := strings.IndexByte(resource, '/'); i >= 0 {
				resource = resource[i:]
			} else {
				resource = ""
			}
		} else {
			// A literal segment, equal to the resource's. (A "**" that is
			// not last is compared so, and never equals a valid segment.)
			i := 0
			for ; i < len(pattern) && pattern[i] != '/'; i++ {
				if i == len(resource) || resource[i] != pattern[i] {
					return false
				}
			}
			if i < len(resource) && resource[i] != '/' {
				return false // the resource's segment is longer
			}
			pattern, resource = pattern[i:], resource[i:]
		}
		// Each is at its end or at the '/' before its next segment.
		switch {
		case pattern == "":
			return resource == ""
		case resource == "":
			// The resource is done: only a final "**" matches nothing.
			return pattern == "/"+Rest
		}
		pattern, resource = pattern[1:], resource[1:]
	}
}

// Implies reports whether holding the granted scope allows everything the
// scope child allows: for flat scopes, the same scope; for permissions,
// an action that implies the child's and a resource pattern that matches
// every resource the child's matches. Invalid permissions imply nothing
// and are implied by nothing.
func Implies(granted, child string) bool {
	if !IsPermission(granted) || !IsPermission(child) {
		return granted == child && !IsPermission(granted)
	}
	if Check(granted) != nil || Check(child) != nil {
		return false
	}
	gr, ga := Split(granted)
	cr, ca := Split(child)
	if cr == Rest {
		// A resource has a segment at least: "**" alone is "*/**".
		cr = One + "/" + Rest
	}
	return actionImplies(ga, ca) && coversResource(gr, cr)
}

// coversResource reports whether every resource that pattern child
// matches, pattern granted matches too. Both are valid.
func coversResource(granted, child string) bool {
	for {
		g, gRest, gMore := strings.Cut(granted, "/")
		if g == Rest {
			return true
		}
		if child == "" {
			return false
		}
		c, cRest, cMore := strings.Cut(child, "/")
		switch {
		case c == Rest:
			return false // any number of segments, which g (not "**") cannot take
		case g == One:
			// c is a literal or "*": either is one segment.
		case g != c:
			return false
		}
		switch {
		case !gMore && !cMore:
			return true
		case !gMore:
			return false
		case !cMore:
			return gRest == Rest
		}
		granted, child = gRest, cRest
	}
}
