package server_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/writ-dev/writ/audit"
)

func TestPermissionCatalogueAPI(t *testing.T) {
	f := newFixture(t)
	reader := f.issue("reader", []string{f.url}, "writ:revocations")
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/v1/permissions", ""},
		{"PUT", "/v1/permissions/orders", `{"actions":["read"]}`},
		{"DELETE", "/v1/permissions/orders", ""},
	} {
		ct := ""
		if tc.body != "" {
			ct = "application/json"
		}
		if code, _, _ := f.do(tc.method, tc.path, "", ct, tc.body); code != 401 {
			t.Errorf("%s %s without a token: %d", tc.method, tc.path, code)
		}
		if code, _, _ := f.do(tc.method, tc.path, reader, ct, tc.body); code != 403 {
			t.Errorf("%s %s without writ:admin: %d", tc.method, tc.path, code)
		}
	}

	code, _, body := f.do("GET", "/v1/permissions", f.admin, "", "")
	if code != 200 || !strings.Contains(body, `"types": []`) {
		t.Errorf("empty catalogue: %d %s", code, body)
	}
	code, _, body = f.do("PUT", "/v1/permissions/orders", f.admin, "application/json", `{"actions":["write","read","admin"]}`)
	if code != 200 || strings.Join(strings.Fields(body), "") != `{"type":"orders","actions":["admin","read","write"]}` {
		t.Errorf("define: %d %s", code, body)
	}
	for _, tc := range []struct{ path, body string }{
		{"/v1/permissions/orders", `{"actions":["Read"]}`},
		{"/v1/permissions/orders", `{"actions":[]}`},
		{"/v1/permissions/orders", `{"actions":["read"],"extra":1}`},
		{"/v1/permissions/orders", `{"actions":"read"}`},
		{"/v1/permissions/writ", `{"actions":["read"]}`},
		{"/v1/permissions/*", `{"actions":["read"]}`},
		{"/v1/permissions/orders%2Fx", `{"actions":["read"]}`},
		{"/v1/permissions/..", `{"actions":["read"]}`},
		{"/v1/permissions/ord%20ers", `{"actions":["read"]}`},
		{"/v1/permissions/orders/items", `{"actions":["read"]}`},
	} {
		if code, _, resp := f.do("PUT", tc.path, f.admin, "application/json", tc.body); code/100 != 4 {
			t.Errorf("PUT %s %s: %d %s", tc.path, tc.body, code, resp)
		}
	}
	code, _, body = f.do("GET", "/v1/permissions", f.admin, "", "")
	var cat struct {
		Types []struct {
			Type    string
			Actions []string
		}
	}
	if err := json.Unmarshal([]byte(body), &cat); err != nil || code != 200 || len(cat.Types) != 1 || cat.Types[0].Type != "orders" || len(cat.Types[0].Actions) != 3 {
		t.Errorf("list: %d %s", code, body)
	}

	// Issuing through the API follows the catalogue.
	code, _, body = f.do("POST", "/v1/tokens", f.admin, "application/json", `{"subject":"alice","audience":["https://api"],"scopes":["ordrs/42:read"]}`)
	if code != 400 || !strings.Contains(body, `did you mean \"orders/42:read\"?`) {
		t.Errorf("issue outside the catalogue: %d %s", code, body)
	}
	code, _, body = f.do("POST", "/v1/tokens", f.admin, "application/json", `{"subject":"alice","audience":["https://api"],"scopes":["orders/42:read","deploy"]}`)
	if code != 201 {
		t.Errorf("issue within the catalogue: %d %s", code, body)
	}

	code, h, _ := f.do("DELETE", "/v1/permissions/orders", f.admin, "", "")
	if code != 204 || h.Get("Cache-Control") != "no-store" {
		t.Errorf("remove: %d %v", code, h)
	}
	if code, _, body := f.do("DELETE", "/v1/permissions/orders", f.admin, "", ""); code != 404 || !strings.Contains(body, "unknown resource type") {
		t.Errorf("remove again: %d %s", code, body)
	}
	code, _, body = f.do("POST", "/v1/tokens", f.admin, "application/json", `{"subject":"alice","audience":["https://api"],"scopes":["ordrs/42:read"]}`)
	if code != 201 {
		t.Errorf("issue once the catalogue is empty: %d %s", code, body)
	}
	// Each change is on record, with the admin who made it.
	log, err := audit.NewLog(f.db)
	if err != nil {
		t.Fatal(err)
	}
	events, err := log.List(t.Context(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		if strings.HasPrefix(e.Action, "permissions.") {
			got = append(got, e.Action+" "+e.Detail+" by "+strings.Fields(e.Actor)[0])
		}
	}
	if want := "permissions.define orders: admin read write by api:admin|permissions.remove orders by api:admin"; strings.Join(got, "|") != want {
		t.Errorf("audit: %q, want %q", strings.Join(got, "|"), want)
	}
}

func TestWhoamiPermissions(t *testing.T) {
	f := newFixture(t)
	tok := f.issue("alice", []string{f.url}, "read", "orders/*:write", "repos/acme/**:read", "writ:revocations")
	code, _, body := f.do("GET", "/v1/whoami", tok, "", "")
	if code != 200 || !strings.Contains(body, `"scope":"read orders/*:write repos/acme/**:read writ:revocations"`) ||
		!strings.HasSuffix(strings.TrimSpace(body), `,"permissions":[{"resource":"orders/*","action":"write"},{"resource":"repos/acme/**","action":"read"}]}`) {
		t.Errorf("whoami: %d %s", code, body)
	}
	var claims map[string]any
	if err := json.Unmarshal([]byte(body), &claims); err != nil {
		t.Errorf("whoami's answer is not JSON: %v", err)
	}
	flat := f.issue("bob", []string{f.url}, "read")
	if code, _, body := f.do("GET", "/v1/whoami", flat, "", ""); code != 200 || !strings.HasSuffix(strings.TrimSpace(body), `,"permissions":[]}`) {
		t.Errorf("whoami of a token without permissions: %d %s", code, body)
	}

	for query, want := range map[string]int{
		"permission=orders/42:write":                                 200,
		"permission=orders/42:read&permission=repos/acme/api:read":   200,
		"permission=repos/acme:read":                                 200,
		"permission=orders/42:admin":                                 403,
		"permission=orders/42/items:read":                            403,
		"permission=orders/42:read&permission=repos/other:read":      403,
		"permission=read:read":                                       403,
		"permission=orders/*:read":                                   400, // a wildcard is granted, never required
		"permission=orders/../x:read":                                400,
		"permission=orders":                                          400,
		"permission=orders:READ":                                     400,
		"permission=":                                                400,
		"permission=orders%2F42:write":                               200, // the query is decoded: orders/42
		strings.Repeat("permission=orders/42:read&", 17) + "x=1":     400,
		strings.Repeat("permission=orders/42:read&", 16) + "x=1":     200,
		"permission=orders/42:write&audience=" + "https://elsewhere": 401,
	} {
		code, h, body := f.do("GET", "/v1/whoami?"+query, tok, "", "")
		if code != want {
			t.Errorf("whoami?%s: %d %s, want %d", query, code, body, want)
		}
		if code == 403 && (!strings.Contains(h.Get("WWW-Authenticate"), `error="insufficient_scope"`) || !strings.Contains(body, "insufficient permission: missing")) {
			t.Errorf("whoami?%s: %v %s", query, h, body)
		}
	}
}
