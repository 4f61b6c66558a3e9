package permission

import (
	"strings"
	"testing"
)

// segmentMatch is matchResource as first written, segment by segment: the
// reference that the byte-wise matchResource must agree with.
func segmentMatch(pattern, resource string) bool {
	for {
		p, pRest, pMore := strings.Cut(pattern, "/")
		if p == Rest {
			return !pMore
		}
		if resource == "" {
			return false
		}
		r, rRest, rMore := strings.Cut(resource, "/")
		if p != One && p != r {
			return false
		}
		switch {
		case !pMore && !rMore:
			return true
		case !pMore:
			return false
		case !rMore:
			return pRest == Rest
		}
		pattern, resource = pRest, rRest
	}
}

// paths returns every path of 1 to depth segments taken from segs,
// separated by '/'.
func paths(segs []string, depth int) []string {
	var out []string
	var walk func(prefix string, depth int)
	walk = func(prefix string, depth int) {
		for _, s := range segs {
			p := prefix + s // prefix is "" or ends with '/'
			out = append(out, p)
			if depth > 1 {
				walk(p+"/", depth-1)
			}
		}
	}
	walk("", depth)
	return out
}

// TestMatchResourceAgrees compares matchResource with segmentMatch over
// every pattern of up to four segments, valid or not (empty segments,
// "**" before the end, a trailing '/'), and every resource of up to five.
func TestMatchResourceAgrees(t *testing.T) {
	patterns := paths([]string{"a", "ab", "*", "**", "", "a*", "***"}, 4)
	resources := paths([]string{"a", "ab", "b"}, 5)
	for _, p := range patterns {
		for _, r := range resources {
			if got, want := matchResource(p, r), segmentMatch(p, r); got != want {
				t.Fatalf("matchResource(%q, %q) = %v, segment by segment %v", p, r, got, want)
			}
		}
	}
	if len(patterns) < 1000 || len(resources) < 300 {
		t.Fatalf("only %d patterns and %d resources", len(patterns), len(resources))
	}
}

func FuzzMatchResource(f *testing.F) {
	f.Add("orders/*", "orders/42")
	f.Add("repos/acme/**", "repos/acme")
	f.Add("a/**/b", "a/x/b")
	f.Add("a/", "a")
	f.Fuzz(func(t *testing.T, pattern, resource string) {
		if CheckRequest(resource, Read) != nil {
			return // matchResource takes valid resources only
		}
		if got, want := matchResource(pattern, resource), segmentMatch(pattern, resource); got != want {
			t.Fatalf("matchResource(%q, %q) = %v, segment by segment %v", pattern, resource, got, want)
		}
	})
}

// splitAllows is Allows written plainly, scope by scope: the reference
// that Allows must agree with.
func splitAllows(scopes, resource, action string) bool {
	if CheckRequest(resource, action) != nil {
		return false
	}
	for _, s := range strings.Split(scopes, " ") {
		if match(s, resource, action) {
			return true
		}
	}
	return false
}

// TestAllowsAgrees compares Allows with splitAllows where the word-wise
// loops have their edges: scopes and resources of 7, 8, 9 and 16 bytes,
// empty scopes, spaces at either end, a scope that is a prefix of the
// resource and the other way round, bytes above 0x7f.
func TestAllowsAgrees(t *testing.T) {
	resources := []string{"a", "abcdefg", "abcdefgh", "abcdefghi", "abcdefgh/ijklmnop", "abcdefgh/ijklmnop/q", "orders/42", "x/y"}
	var scopes []string
	for _, r := range resources {
		for _, a := range []string{"read", "write", "admin", "deploy"} {
			scopes = append(scopes, r+":"+a, r+"/**:"+a, r+"/*:"+a, "*:"+a, "**:"+a, "*/*:"+a, r[:len(r)-1]+":"+a, r+"x:"+a, r+":"+a+"x", r+"/:"+a, r)
		}
	}
	scopes = append(scopes, "", " ", "\xffabcdefg:read", "\xa1abcdefgh:read", "abcdefgh\x80:read", "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8:read", "a\x00:read")
	for _, s1 := range scopes {
		for _, s2 := range []string{"", "read", "abcdefgh:read", "**:admin"} {
			for _, claim := range []string{s1, s1 + " " + s2, s2 + " " + s1, " " + s1 + "  " + s2 + " "} {
				for _, r := range resources {
					for _, a := range []string{"read", "write", "admin", "deploy"} {
						if got, want := Allows(claim, r, a), splitAllows(claim, r, a); got != want {
							t.Fatalf("Allows(%q, %q, %q) = %v, scope by scope %v", claim, r, a, got, want)
						}
					}
				}
			}
		}
	}
}

func FuzzAllows(f *testing.F) {
	f.Add("orders/*:write repos/acme/**:read", "orders/42", "read")
	f.Add("abcdefgh:read abcdefgh/**:admin", "abcdefgh/ijklmnop", "write")
	f.Add(" *:read  **:x ", "a", "x")
	f.Fuzz(func(t *testing.T, scopes, resource, action string) {
		if got, want := Allows(scopes, resource, action), splitAllows(scopes, resource, action); got != want {
			t.Fatalf("Allows(%q, %q, %q) = %v, scope by scope %v", scopes, resource, action, got, want)
		}
	})
}
