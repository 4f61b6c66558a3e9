package permission

import (
	"fmt"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for scope, want := range map[string]string{
		"orders:read":            "",
		"orders/*:write":         "",
		"repos/acme/**:read":     "",
		"**:admin":               "",
		"a.b/c_d/E-9:deploy_now": "",
		"writ:admin":             "",
		":read":                  "want segments",
		"orders/:read":           "want segments",
		"orders//x:read":         "want segments",
		"/orders:read":           "want segments",
		"orders/**/x:read":       `"**" may only be the last`,
		"orders/../x:read":       `"." and ".."`,
		"orders/./x:read":        `"." and ".."`,
		"ord ers:read":           "a segment holds only",
		"orders/x*:read":         "a segment holds only",
		"orders:Read":            "want an action",
		"orders:":                "want an action",
		"orders:re ad":           "want an action",
		"a:b:read":               "a segment holds only",
	} {
		err := Check(scope)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("Check(%q) = %v, want %q", scope, err, want)
		}
	}
}

func TestIsPermission(t *testing.T) {
	for scope, want := range map[string]bool{
		"orders:read":                     true,
		"read:items":                      true,
		"openid":                          false,
		"https://api.example/orders.read": false,
		"urn:example:orders:read":         false, // a URN: flat
		"orders:Read":                     false, // not a valid permission: flat
		"orders/**/x:read":                false,
		"https://api.example/x:read":      false,
		"writ:admin":                      true,
		"":                                false,
	} {
		if got := IsPermission(scope); got != want {
			t.Errorf("IsPermission(%q) = %v, want %v", scope, got, want)
		}
	}
}

func TestActionImplies(t *testing.T) {
	for _, tc := range []struct {
		have, want string
		ok         bool
	}{
		{"admin", "admin", true}, {"admin", "write", true}, {"admin", "read", true},
		{"write", "write", true}, {"write", "read", true}, {"write", "admin", false},
		{"read", "read", true}, {"read", "write", false}, {"read", "admin", false},
		{"deploy", "deploy", true}, {"admin", "deploy", false}, {"deploy", "read", false},
	} {
		if got := actionImplies(tc.have, tc.want); got != tc.ok {
			t.Errorf("actionImplies(%s, %s) = %v", tc.have, tc.want, got)
		}
	}
}

func TestAllows(t *testing.T) {
	for _, tc := range []struct {
		scopes, resource, action string
		want                     bool
	}{
		// DESIGN's examples.
		{"orders/*:write", "orders/42", "read", true},
		{"orders/*:write", "orders/42/items", "read", false},
		{"repos/acme/**:read", "repos/acme", "read", true},
		{"repos/acme/**:read", "repos/acme/api/v2", "read", true},
		{"repos/acme/**:read", "repos/acme/api/v2", "write", false},
		{"repos/acme/**:read", "repos/acmex", "read", false},
		{"repos/acme/**:read", "repos", "read", false},
		// Exact resources and implication.
		{"orders:admin", "orders", "write", true},
		{"orders:read", "orders", "write", false},
		{"orders:read", "orders/42", "read", false},
		{"orders/*:read", "orders", "read", false},
		{"**:read", "anything/at/all", "read", true},
		{"*:read", "one", "read", true},
		{"*:read", "one/two", "read", false},
		{"orders/*/items:read", "orders/7/items", "read", true},
		{"orders/*/items:read", "orders/7/notes", "read", false},
		{"billing:refund", "billing", "refund", true},
		{"billing:admin", "billing", "refund", false},
		// Among others, flat ones too.
		{"openid profile orders/42:read", "orders/42", "read", true},
		{"openid profile", "openid", "read", false},
		{"", "orders", "read", false},
		{"a  orders:read ", "orders", "read", true},
		{" ", "orders", "read", false},
		// Invalid requests and grants are never allowed.
		{"**:read", "orders/*", "read", false},
		{"**:read", "orders/../x", "read", false},
		{"**:read", "orders", "Read", false},
		{"orders/**/x:read", "orders/y/x", "read", false},
		{"orders//x:read", "orders/x", "read", false},
		{"a:b:read", "b", "read", false},
		// writ's own scopes are never granted by a wildcard.
		{"*:admin", "writ", "admin", false},
		{"**:issue", "writ", "issue", false},
		{"writ:admin", "writ", "admin", false},
	} {
		if got := Allows(tc.scopes, tc.resource, tc.action); got != tc.want {
			t.Errorf("Allows(%q, %q, %q) = %v, want %v", tc.scopes, tc.resource, tc.action, got, tc.want)
		}
	}
}

func TestImplies(t *testing.T) {
	for _, tc := range []struct {
		granted, child string
		want           bool
	}{
		{"orders:admin", "orders:read", true},
		{"orders:read", "orders:admin", false},
		{"orders/*:write", "orders/42:read", true},
		{"orders/*:write", "orders/*:write", true},
		{"orders/*:write", "orders/**:write", false},
		{"orders/**:write", "orders/*:read", true},
		{"orders/**:write", "orders:read", true},
		{"orders/**:write", "orders/a/b/**:write", true},
		{"orders/42:read", "orders/*:read", false},
		{"**:admin", "anything/**:deploy", false}, // admin does not imply deploy
		{"**:deploy", "anything/**:deploy", true},
		{"openid", "openid", true},
		{"openid", "profile", false},
		{"orders:read", "orders", false},
		{"orders", "orders:read", false},
		{"orders/**/x:read", "orders/**/x:read", true}, // not a permission: a flat scope, implied by itself
		{"orders/**:read", "orders/**/x:read", false},  // …and by no permission
	} {
		if got := Implies(tc.granted, tc.child); got != tc.want {
			t.Errorf("Implies(%q, %q) = %v, want %v", tc.granted, tc.child, got, tc.want)
		}
	}
}

// TestImpliesIsSound checks Implies against match over every pattern and
// resource of a small universe: when Implies(g, c), every request c
// allows, g allows; and when g allows every request c allows in the
// universe, Implies(g, c) (the universe has a segment that no pattern
// names, standing for all the others).
func TestImpliesIsSound(t *testing.T) {
	segs := []string{"a", "b", "*", "**"}
	var patterns []string
	var walk func(prefix string, depth int)
	walk = func(prefix string, depth int) {
		if depth == 0 {
			return
		}
		for _, s := range segs {
			p := s
			if prefix != "" {
				p = prefix + "/" + s
			}
			if Check(p+":read") == nil {
				patterns = append(patterns, p)
			}
			if s != "**" {
				walk(p, depth-1)
			}
		}
	}
	walk("", 3)
	resources := paths([]string{"a", "b", "z"}, 5)
	actions := []string{"read", "write", "admin", "deploy"}
	for _, g := range patterns {
		for _, c := range patterns {
			for _, ga := range actions {
				for _, ca := range actions {
					gs, cs := g+":"+ga, c+":"+ca
					covered := true
					for _, r := range resources {
						for _, a := range actions {
							if match(cs, r, a) && !match(gs, r, a) {
								covered = false
							}
						}
					}
					if got := Implies(gs, cs); got != covered {
						t.Fatalf("Implies(%q, %q) = %v, but over the universe it is %v", gs, cs, got, covered)
					}
				}
			}
		}
	}
}

func TestAllowsAllocatesNothing(t *testing.T) {
	scopes := manyScopes(64)
	n := testing.AllocsPerRun(100, func() {
		if !Allows(scopes, "svc63/items/7", "read") {
			t.Fatal("not allowed")
		}
	})
	if n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
}

// manyScopes returns n permissions svcI/items/*:write, the last one the
// only one to allow svcN-1/items/….
func manyScopes(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "svc%d/items/*:write", i)
	}
	return b.String()
}

func FuzzMatch(f *testing.F) {
	f.Add("orders/*:write", "orders/42", "read")
	f.Add("repos/acme/**:read", "repos/acme/api", "read")
	f.Add("**/x:read", "a/x", "read")
	f.Fuzz(func(t *testing.T, scope, resource, action string) {
		got := Allows(scope, resource, action)
		if got && (CheckRequest(resource, action) != nil) {
			t.Fatalf("Allows(%q, %q, %q) with an invalid request", scope, resource, action)
		}
		if !got || strings.Contains(scope, " ") {
			return
		}
		// A single scope that allows must be a valid permission that implies
		// the request written as a permission.
		if err := Check(scope); err != nil {
			t.Fatalf("Allows(%q, …) true, but the scope is invalid: %v", scope, err)
		}
		if !Implies(scope, resource+":"+action) {
			t.Fatalf("Allows(%q, %q, %q) but Implies is false", scope, resource, action)
		}
	})
}

// BenchmarkAllows64 checks the last of 64 permissions, the worst case of a
// token at the issuer's limit of scopes.
func BenchmarkAllows64(b *testing.B) {
	scopes := manyScopes(64)
	b.ReportAllocs()
	for b.Loop() {
		if !Allows(scopes, "svc63/items/7", "read") {
			b.Fatal("not allowed")
		}
	}
}
