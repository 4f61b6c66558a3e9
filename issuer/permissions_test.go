package issuer_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
)

// TestIssueChecksPermissionGrammar: a scope "writ:…" must be one of writ's
// own; a scope with ':' that is not a valid permission is a flat scope, as
// scopes always were (urn:example:orders), issued and allowing no
// resource, until a catalogue declares its resource type: then it is the
// typo it must be, refused naming the grammar it breaks.
func TestIssueChecksPermissionGrammar(t *testing.T) {
	e := newEnv(t, verifier.EdDSA, nil)
	ctx := context.Background()
	issue := func(scopes ...string) (*issuer.Token, error) {
		return e.issuer.Issue(ctx, issuer.Request{Subject: "alice", Audience: []string{testAudience}, Scopes: scopes})
	}
	for _, s := range []string{"read", "orders:read", "orders/*:write", "repos/acme/**:admin", "**:read", "billing/v1.2:export_csv",
		"writ:admin", "writ:issue", "writ:usage", "writ:revocations", "https://api.example.com/auth:read"} {
		if _, err := issue(s); err != nil {
			t.Errorf("scope %q: %v", s, err)
		}
	}
	for _, s := range []string{"writ:root", "writ:", "writ:admin:x"} {
		if _, err := issue("read", s); !errors.Is(err, issuer.ErrRequest) || !strings.Contains(err.Error(), `unknown scope "`+s+`"`) {
			t.Errorf("scope %q: %v, want ErrRequest naming it", s, err)
		}
	}
	malformed := map[string]string{
		"orders:READ":         "action",
		"orders:":             "action",
		"orders//42:read":     "segments",
		"orders/../x:read":    `"." and ".."`,
		"orders/**/x:read":    `"**" may only be the last`,
		"orders/4+2:read":     "a segment holds only",
		"orders/a*:read":      "a segment holds only",
		"orders:read:write":   "a segment holds only",
		"orders/x:read/write": "action",
	}
	for s := range malformed {
		tok, err := issue("read", s)
		if err != nil {
			t.Errorf("without a catalogue, scope %q: %v; want a flat scope", s, err)
			continue
		}
		c := e.verified(t, tok, testAudience)
		if !c.HasScope(s) || c.Allows("orders/42", "read") || c.Allows("orders", "read") {
			t.Errorf("flat scope %q: HasScope %v, allows orders/42:read %v", s, c.HasScope(s), c.Allows("orders/42", "read"))
		}
	}
	if _, err := e.issuer.DefineResourceType(ctx, issuer.ResourceType{Name: "orders", Actions: []string{"read", "write", "admin"}}, "test"); err != nil {
		t.Fatal(err)
	}
	for s, want := range malformed {
		_, err := issue("read", s)
		if !errors.Is(err, issuer.ErrRequest) || !strings.Contains(err.Error(), `names the resource type "orders" but is not a permission`) || !strings.Contains(err.Error(), want) {
			t.Errorf("under a catalogue, scope %q: %v, want ErrRequest saying %q", s, err, want)
		}
	}
	for _, s := range []string{"urn:example:orders", ":read", "https://api.example.com/orders:read"} {
		if _, err := issue("read", s); err != nil {
			t.Errorf("under a catalogue, flat scope %q: %v", s, err)
		}
	}
}

func TestPermissionCatalogue(t *testing.T) {
	e := newEnv(t, verifier.EdDSA, nil)
	ctx := context.Background()
	issue := func(scopes ...string) error {
		_, err := e.issuer.Issue(ctx, issuer.Request{Subject: "alice", Audience: []string{testAudience}, Scopes: scopes})
		return err
	}
	// No catalogue: any valid permission.
	if err := issue("ordrs/42:wirte"); err != nil {
		t.Fatalf("without a catalogue: %v", err)
	}
	if types, err := e.issuer.Permissions(ctx); err != nil || len(types) != 0 {
		t.Fatalf("Permissions = %v, %v; want none", types, err)
	}
	define := func(name string, actions ...string) issuer.ResourceType {
		t.Helper()
		d, err := e.issuer.DefineResourceType(ctx, issuer.ResourceType{Name: name, Actions: actions}, "cli:ops")
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := define("orders", "write", "read", "admin", "read"); d.Name != "orders" || !slices.Equal(d.Actions, []string{"admin", "read", "write"}) {
		t.Errorf("DefineResourceType = %v, want its actions sorted, each once", d)
	}
	define("billing", "export")
	types, err := e.issuer.Permissions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []issuer.ResourceType{{"billing", []string{"export"}}, {"orders", []string{"admin", "read", "write"}}}
	if !slices.EqualFunc(types, want, func(a, b issuer.ResourceType) bool { return a.Name == b.Name && slices.Equal(a.Actions, b.Actions) }) {
		t.Errorf("Permissions = %v, want %v", types, want)
	}

	for _, scopes := range [][]string{
		{"orders/42:read", "orders:admin", "orders/*/items:write", "billing/2026:export"},
		{"deploy", "writ:admin", "read"}, // flat and writ's own scopes are not checked
	} {
		if err := issue(scopes...); err != nil {
			t.Errorf("%q: %v", scopes, err)
		}
	}
	for scope, msg := range map[string]string{
		"ordrs/42:read":      `unknown resource type "ordrs" in "ordrs/42:read"; did you mean "orders/42:read"?`,
		"Orders:write":       `unknown resource type "Orders" in "Orders:write"; did you mean "orders:write"?`,
		"orders/42:wirte":    `action "wirte" is not declared for resource type "orders" in "orders/42:wirte"; did you mean "orders/42:write"?`,
		"orders/**:delete":   `action "delete" is not declared for resource type "orders" in "orders/**:delete"; did you mean "orders/**:`,
		"bill/x:exprt":       `unknown resource type "bill" in "bill/x:exprt"; did you mean "billing/x:export"?`,
		"billing:read":       `action "read" is not declared for resource type "billing" in "billing:read"; did you mean "billing:export"?`,
		"*/42:read":          `"*/42:read" names every resource type, and action "read" is not declared for "billing"`,
		"**:export":          `"**:export" names every resource type, and action "export" is not declared for "orders"`,
		"read:all":           `unknown resource type "read" in "read:all"`,
		"zzzzzzzzzzzz/q:zzz": `did you mean "`,
	} {
		err := issue("deploy", scope)
		if !errors.Is(err, issuer.ErrRequest) || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want ErrRequest saying %s", scope, err, msg)
		}
	}
	// A wildcard type takes an action declared for every type.
	define("billing", "export", "read")
	if err := issue("*/42:read", "**:read"); err != nil {
		t.Errorf("a wildcard type with an action of every type: %v", err)
	}

	// Another issuer over the same database (a replica, the CLI) applies
	// a change at once: the catalogue is read in each issuance's
	// transaction.
	other, err := issuer.New(issuer.Config{Issuer: testIssuer, Keys: e.ring, Store: e.db, Now: clock, UnsafeDatabaseNow: clock})
	if err != nil {
		t.Fatal(err)
	}
	otherIssue := func(scope string) error {
		_, err := other.Issue(ctx, issuer.Request{Subject: "alice", Audience: []string{testAudience}, Scopes: []string{scope}})
		return err
	}
	if err := otherIssue("invoices:read"); !errors.Is(err, issuer.ErrRequest) {
		t.Fatalf("invoices:read before invoices is declared: %v", err)
	}
	define("invoices", "read")
	if err := otherIssue("invoices:read"); err != nil {
		t.Errorf("invoices:read once invoices is declared, through another issuer: %v", err)
	}

	if err := e.issuer.RemoveResourceType(ctx, "orders", "cli:ops"); err != nil {
		t.Fatal(err)
	}
	if err := issue("orders:read"); !errors.Is(err, issuer.ErrRequest) {
		t.Errorf("orders:read after orders was removed: %v", err)
	}
	if err := e.issuer.RemoveResourceType(ctx, "orders", "cli:ops"); !errors.Is(err, issuer.ErrUnknownResourceType) {
		t.Errorf("removing orders twice: %v, want ErrUnknownResourceType", err)
	}
	for _, name := range []string{"billing", "invoices"} {
		if err := e.issuer.RemoveResourceType(ctx, name, "cli:ops"); err != nil {
			t.Fatal(err)
		}
	}
	// The last type gone, no catalogue is in force.
	if err := issue("ordrs/42:wirte"); err != nil {
		t.Errorf("with the catalogue emptied: %v", err)
	}

	log, err := audit.NewLog(e.db)
	if err != nil {
		t.Fatal(err)
	}
	events, err := log.List(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range events {
		if strings.HasPrefix(ev.Action, "permissions.") {
			got = append(got, ev.Actor+" "+ev.Action+" "+ev.Detail)
		}
	}
	wantEvents := []string{
		"cli:ops permissions.define orders: admin read write",
		"cli:ops permissions.define billing: export",
		"cli:ops permissions.define billing: export read",
		"cli:ops permissions.define invoices: read",
		"cli:ops permissions.remove orders",
		"cli:ops permissions.remove billing",
		"cli:ops permissions.remove invoices",
	}
	if !slices.Equal(got, wantEvents) {
		t.Errorf("audit events:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantEvents, "\n"))
	}
}

func TestDefineResourceTypeValidates(t *testing.T) {
	e := newEnv(t, verifier.EdDSA, nil)
	ctx := context.Background()
	many := make([]string, issuer.MaxActions+1)
	for n := range many {
		many[n] = "a" + strings.Repeat("x", n)
	}
	for _, tc := range []issuer.ResourceType{
		{"", []string{"read"}},
		{"orders/items", []string{"read"}},
		{"*", []string{"read"}},
		{"**", []string{"read"}},
		{"..", []string{"read"}},
		{"ord ers", []string{"read"}},
		{"writ", []string{"admin"}},
		{strings.Repeat("o", 65), []string{"read"}},
		{"orders", nil},
		{"orders", []string{"Read"}},
		{"orders", []string{"read", ""}},
		{"orders", []string{strings.Repeat("r", 65)}},
		{"orders", many},
	} {
		if _, err := e.issuer.DefineResourceType(ctx, tc, "cli:ops"); !errors.Is(err, issuer.ErrRequest) {
			t.Errorf("DefineResourceType(%q, %q) = %v, want ErrRequest", tc.Name, tc.Actions, err)
		}
	}
	if _, err := e.issuer.DefineResourceType(ctx, issuer.ResourceType{Name: "orders", Actions: []string{"read"}}, "cli:\nops"); !errors.Is(err, issuer.ErrRequest) {
		t.Errorf("an actor that is not plain text: %v", err)
	}
	if types, err := e.issuer.Permissions(ctx); err != nil || len(types) != 0 {
		t.Errorf("refused definitions left %v (%v)", types, err)
	}
}

// TestCatalogueCorruptFailsClosed: a stored catalogue that does not parse
// stops issuance rather than let any permission through.
func TestCatalogueCorruptFailsClosed(t *testing.T) {
	e := newEnv(t, verifier.EdDSA, nil)
	ctx := context.Background()
	if err := e.db.MetaPut(ctx, "permissions", []byte(`{"types":[{"type":"a/b","actions":["read"]}]}`)); err != nil {
		t.Fatal(err)
	}
	_, err := e.issuer.Issue(ctx, issuer.Request{Subject: "alice", Audience: []string{testAudience}, Scopes: []string{"orders:read"}})
	if err == nil || errors.Is(err, issuer.ErrRequest) || !strings.Contains(err.Error(), "catalogue") {
		t.Errorf("Issue over a corrupt catalogue: %v", err)
	}
	if _, err := e.issuer.Permissions(ctx); err == nil {
		t.Error("Permissions over a corrupt catalogue: no error")
	}
}

// TestRegenerateAppliesCatalogue: a replacement token is issued under the
// catalogue in force, and the old token stays as it was when it is refused.
func TestRegenerateAppliesCatalogue(t *testing.T) {
	e := newEnv(t, verifier.EdDSA, nil)
	ctx := context.Background()
	old := e.issue(t, issuer.Request{Subject: "alice", Scopes: []string{"ordrs:read"}})
	if _, err := e.issuer.DefineResourceType(ctx, issuer.ResourceType{Name: "orders", Actions: []string{"read"}}, "cli:ops"); err != nil {
		t.Fatal(err)
	}
	_, err := e.issuer.Regenerate(ctx, old.ID, revocation.Options{Actor: "cli:ops"})
	if !errors.Is(err, issuer.ErrRequest) || !strings.Contains(err.Error(), `did you mean "orders:read"?`) {
		t.Fatalf("Regenerate under a catalogue that refuses its scope: %v", err)
	}
	if rec, err := e.issuer.Get(ctx, old.ID); err != nil || rec.Status != issuer.StatusActive {
		t.Errorf("the old token after a refused regeneration: %+v, %v", rec, err)
	}
}

// TestCatalogueCatchesFlatTypos: under a catalogue, a scope that breaks
// the grammar and names a declared type, or one like it, is refused with
// the permission it may have meant; flat scopes unlike any type are not.
func TestCatalogueCatchesFlatTypos(t *testing.T) {
	e := newEnv(t, verifier.EdDSA, nil)
	ctx := context.Background()
	if _, err := e.issuer.DefineResourceType(ctx, issuer.ResourceType{Name: "orders", Actions: []string{"read", "write", "admin"}}, "test"); err != nil {
		t.Fatal(err)
	}
	for scope, want := range map[string]string{
		"orders:Read":     `scope "orders:Read" names the resource type "orders" but is not a permission: permission "orders:Read": want an action of a-z 0-9 _ -; did you mean "orders:read"?`,
		"order:Read":      `did you mean "orders:read"?`,
		"ordres/42:Write": `did you mean "orders/42:write"?`,
		"orders*:read":    `did you mean "orders:read"?`,
	} {
		_, err := e.issuer.Issue(ctx, issuer.Request{Subject: "alice", Audience: []string{testAudience}, Scopes: []string{scope}})
		if !errors.Is(err, issuer.ErrRequest) || !strings.Contains(err.Error(), want) {
			t.Errorf("scope %q: %v, want ErrRequest saying %q", scope, err, want)
		}
	}
	for _, scope := range []string{"urn:example:orders", "api:v1:Read", "https://orders.example/x:read", "profile"} {
		if _, err := e.issuer.Issue(ctx, issuer.Request{Subject: "alice", Audience: []string{testAudience}, Scopes: []string{scope}}); err != nil {
			t.Errorf("flat scope %q: %v", scope, err)
		}
	}
}
