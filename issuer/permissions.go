package issuer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/permission"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/text"
)

// writScopes are writ's own scopes (the scopes "writ:…"): any other
// "writ:" scope is refused, so that a mistyped one is not issued for
// nothing.
var writScopes = [...]string{"writ:admin", "writ:issue", "writ:usage", "writ:revocations"}

// writPrefix begins each of writ's own scopes.
const writPrefix = "writ:"

// checkWritScopes refuses, wrapping ErrRequest, a scope "writ:…" that is
// not one of writ's own. A scope with ':' that is not a valid permission
// is a flat scope, as it always was (package permission); under a
// catalogue, one that names a declared resource type is refused as the
// typo it must be (see catalogue.check).
func checkWritScopes(scopes []string) error {
	for _, s := range scopes {
		if strings.HasPrefix(s, writPrefix) && !slices.Contains(writScopes[:], s) {
			return fmt.Errorf("%w: unknown scope %q: writ's own scopes are %s", ErrRequest, s, strings.Join(writScopes[:], ", "))
		}
	}
	return nil
}

// ResourceType is an entry of the permission catalogue: a kind of
// resource, the first segment of a permission's resource ("orders" in
// "orders/42:read"), and the actions that permissions on it may name.
type ResourceType struct {
	Name    string   `json:"type"`
	Actions []string `json:"actions"`
}

// Limits on the catalogue, which is read at every issuance.
const (
	// MaxResourceTypes is the most resource types a catalogue declares.
	MaxResourceTypes = 256
	// MaxActions is the most actions a resource type declares.
	MaxActions = 32
	// maxTypeName bounds a type's name and an action, in bytes.
	maxTypeName = 64
)

// metaPermissions is the meta row that holds the catalogue: the JSON of
// a catalogue value, its types in the order of their names.
const metaPermissions = "permissions"

// catalogue is the stored form of the permission catalogue.
type catalogue struct {
	Types []ResourceType `json:"types"`
}

// Permissions returns the permission catalogue: the resource types that
// admins declared, in the order of their names, none when no catalogue
// is in force.
//
// Once a type is declared, Issue refuses a permission whose resource does
// not begin with a declared type, or whose action is not one of its
// type's (an action implied by a declared one is not enough: declare
// read,write,admin for all three). A permission whose first segment is a
// wildcard ("*/42:read", "**:read") is issued only if its action is
// declared for every type. Flat scopes and writ's own scopes are never
// checked against the catalogue. Tokens already issued stay as they are,
// but Regenerate applies the catalogue in force to the replacement.
//
// Issue reads the catalogue in the transaction that records the token,
// so that a change committed before, by any process on the database,
// applies to it.
func (i *Issuer) Permissions(ctx context.Context) ([]ResourceType, error) {
	c, err := readCatalogue(ctx, i.cfg.Store)
	if err != nil {
		return nil, err
	}
	return c.Types, nil
}

// DefineResourceType declares t in the permission catalogue, or replaces
// the actions of the type of that name, and records the change in the
// audit log as actor, in one transaction. The name is one resource
// segment (not a wildcard, not "writ", writ's own) and each action a
// permission's action; each is at most 64 bytes. It returns the type as
// declared, its actions sorted, each once. Errors wrap ErrRequest for a
// type that breaks a rule.
func (i *Issuer) DefineResourceType(ctx context.Context, t ResourceType, actor string) (ResourceType, error) {
	if err := checkResourceType(t); err != nil {
		return ResourceType{}, err
	}
	t.Actions = slices.Clone(t.Actions)
	slices.Sort(t.Actions)
	t.Actions = slices.Compact(t.Actions)
	err := i.changeCatalogue(ctx, actor, audit.PermissionsDefine, t.Name+": "+strings.Join(t.Actions, " "), func(c *catalogue) error {
		n, found := slices.BinarySearchFunc(c.Types, t.Name, func(e ResourceType, name string) int { return strings.Compare(e.Name, name) })
		switch {
		case found:
			c.Types[n] = t
		case len(c.Types) >= MaxResourceTypes:
			return fmt.Errorf("%w: the catalogue holds %d resource types, the most it may", ErrRequest, MaxResourceTypes)
		default:
			c.Types = slices.Insert(c.Types, n, t)
		}
		return nil
	})
	if err != nil {
		return ResourceType{}, err
	}
	return t, nil
}

// RemoveResourceType removes the type name from the permission catalogue
// and records the change in the audit log as actor, in one transaction.
// Once the last type is removed, no permission is checked against a
// catalogue. It returns an error wrapping ErrUnknownResourceType when the
// catalogue has no such type.
func (i *Issuer) RemoveResourceType(ctx context.Context, name, actor string) error {
	return i.changeCatalogue(ctx, actor, audit.PermissionsRemove, name, func(c *catalogue) error {
		n := slices.IndexFunc(c.Types, func(t ResourceType) bool { return t.Name == name })
		if n < 0 {
			return fmt.Errorf("%w: %q", ErrUnknownResourceType, name)
		}
		c.Types = slices.Delete(c.Types, n, n+1)
		return nil
	})
}

// changeCatalogue applies change to the catalogue and records it with
// the audit event action, in one transaction.
func (i *Issuer) changeCatalogue(ctx context.Context, actor, action, detail string, change func(*catalogue) error) error {
	if err := audit.CheckActor(actor); err != nil {
		return fmt.Errorf("%w: %w", ErrRequest, err)
	}
	tx, err := i.cfg.Store.Begin(ctx)
	if err != nil {
		return fmt.Errorf("issuer: permissions: %w", err)
	}
	defer tx.Rollback()
	c, err := readCatalogue(ctx, tx)
	if err != nil {
		return err
	}
	if err := change(&c); err != nil {
		return err
	}
	if len(c.Types) == 0 {
		err = tx.MetaDelete(ctx, metaPermissions)
	} else {
		var value []byte
		if value, err = json.Marshal(c); err == nil {
			err = tx.MetaPut(ctx, metaPermissions, value)
		}
	}
	if err == nil {
		err = tx.AuditInsert(ctx, store.AuditRow{At: i.cfg.Now().UnixMilli(), Actor: actor, Action: action, Detail: detail})
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return fmt.Errorf("issuer: permissions: %w", err)
	}
	return nil
}

// checkResourceType returns an error wrapping ErrRequest unless t may be
// declared.
func checkResourceType(t ResourceType) error {
	if len(t.Name) > maxTypeName || strings.Contains(t.Name, "/") {
		return fmt.Errorf("%w: resource type %q: want one segment of at most %d bytes", ErrRequest, t.Name, maxTypeName)
	}
	if t.Name+":" == writPrefix {
		return fmt.Errorf("%w: resource type %q is writ's own", ErrRequest, t.Name)
	}
	if len(t.Actions) == 0 || len(t.Actions) > MaxActions {
		return fmt.Errorf("%w: resource type %q: want 1 to %d actions", ErrRequest, t.Name, MaxActions)
	}
	for _, a := range t.Actions {
		// A type is a requested resource of one segment, without wildcards.
		if err := permission.CheckRequest(t.Name, a); err != nil || len(a) > maxTypeName {
			if err == nil {
				err = fmt.Errorf("action %q is longer than %d bytes", a, maxTypeName)
			}
			return fmt.Errorf("%w: %w", ErrRequest, err)
		}
	}
	return nil
}

// readCatalogue reads the catalogue; a missing one is empty. A stored
// catalogue that does not parse is an error: issuing fails rather than
// skip the checks.
func readCatalogue(ctx context.Context, x store.Executor) (catalogue, error) {
	value, err := x.MetaGet(ctx, metaPermissions)
	if errors.Is(err, store.ErrNotFound) {
		return catalogue{}, nil
	}
	if err != nil {
		return catalogue{}, fmt.Errorf("issuer: read the permission catalogue: %w", err)
	}
	return parseCatalogue(value)
}

func parseCatalogue(value []byte) (catalogue, error) {
	var c catalogue
	if err := json.Unmarshal(value, &c); err != nil {
		return catalogue{}, fmt.Errorf("issuer: the stored permission catalogue does not parse: %w", err)
	}
	for _, t := range c.Types {
		if err := checkResourceType(t); err != nil {
			// %v: the fault is the database's, not a request's (ErrRequest).
			return catalogue{}, fmt.Errorf("issuer: the stored permission catalogue is invalid: %v", err)
		}
	}
	return c, nil
}

// catalogueCache keeps the catalogue that the ledger last read, parsed,
// with the stored bytes it was parsed from: the ledger reads the row in
// each transaction, and parses it again only when it changed.
type catalogueCache struct {
	mu    sync.Mutex
	raw   []byte
	types catalogue
}

// readIn reads the catalogue within tx.
func (cc *catalogueCache) readIn(ctx context.Context, tx store.Tx) (catalogue, error) {
	value, err := tx.MetaGet(ctx, metaPermissions)
	if errors.Is(err, store.ErrNotFound) {
		return catalogue{}, nil
	}
	if err != nil {
		return catalogue{}, fmt.Errorf("issuer: read the permission catalogue: %w", err)
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.raw != nil && bytes.Equal(cc.raw, value) {
		return cc.types, nil
	}
	c, err := parseCatalogue(value)
	if err != nil {
		return catalogue{}, err
	}
	cc.raw, cc.types = bytes.Clone(value), c
	return c, nil
}

// check returns nil when every permission among scopes is within the
// catalogue c (see Issuer.Permissions), else an error wrapping ErrRequest
// that names the closest permission the catalogue allows.
func (c catalogue) check(scopes []string) error {
	if len(c.Types) == 0 {
		return nil
	}
	for _, s := range scopes {
		if strings.HasPrefix(s, writPrefix) {
			continue
		}
		if !permission.IsPermission(s) {
			if err := c.checkFlat(s); err != nil {
				return fmt.Errorf("%w: %w", ErrRequest, err)
			}
			continue
		}
		if err := c.checkOne(s); err != nil {
			return fmt.Errorf("%w: %w", ErrRequest, err)
		}
	}
	return nil
}

// checkFlat refuses a flat scope with ':' whose first segment is a
// declared resource type ("orders/42:Read") or one edit or two away from
// one ("order:Read"): a permission mistyped, which would allow nothing.
// The error suggests the permission it may have meant. URIs are left
// alone.
func (c catalogue) checkFlat(scope string) error {
	if strings.Contains(scope, "://") {
		return nil
	}
	first := scope[:max(strings.IndexAny(scope, "/:"), 0)]
	if first == "" {
		return nil
	}
	t, found := c.lookup(first)
	if !found {
		t = c.nearest(first)
		if d := text.Distance(strings.ToLower(t.Name), strings.ToLower(first)); d > 2 || d >= len(t.Name) {
			return nil
		}
	}
	resource, action := permission.Split(scope)
	suggestion := t.Name + strings.TrimPrefix(resource, first) + ":" + nearest(t.Actions, strings.ToLower(action))
	if found {
		return fmt.Errorf("scope %q names the resource type %q but is not a permission: %w; did you mean %q?", scope, first, permission.Check(scope), suggestion)
	}
	return fmt.Errorf("scope %q is not a permission and names no declared resource type: %w; did you mean %q?", scope, permission.Check(scope), suggestion)
}

func (c catalogue) checkOne(scope string) error {
	resource, action := permission.Split(scope)
	first, _, _ := strings.Cut(resource, "/")
	if first == permission.One || first == permission.Rest {
		for _, t := range c.Types {
			if !slices.Contains(t.Actions, action) {
				return fmt.Errorf("%q names every resource type, and action %q is not declared for %q", scope, action, t.Name)
			}
		}
		return nil
	}
	t, found := c.lookup(first)
	if !found {
		t = c.nearest(first)
	}
	if found && slices.Contains(t.Actions, action) {
		return nil
	}
	suggestion := t.Name + strings.TrimPrefix(resource, first) + ":" + nearest(t.Actions, action)
	if !found {
		return fmt.Errorf("unknown resource type %q in %q; did you mean %q?", first, scope, suggestion)
	}
	return fmt.Errorf("action %q is not declared for resource type %q in %q; did you mean %q?", action, first, scope, suggestion)
}

// lookup returns the type name.
func (c catalogue) lookup(name string) (ResourceType, bool) {
	n, found := slices.BinarySearchFunc(c.Types, name, func(e ResourceType, name string) int { return strings.Compare(e.Name, name) })
	if !found {
		return ResourceType{}, false
	}
	return c.Types[n], true
}

// nearest returns the type whose name is closest to name; c has one at
// least.
func (c catalogue) nearest(name string) ResourceType {
	names := make([]string, len(c.Types))
	for n, t := range c.Types {
		names[n] = t.Name
	}
	t, _ := c.lookup(nearest(names, name))
	return t
}

// nearest returns the word of words (one at least) closest to w by edit
// distance, the first of them on a tie; w itself when it is among them.
func nearest(words []string, w string) string {
	best, bestDist := "", -1
	for _, x := range words {
		if d := text.Distance(strings.ToLower(x), strings.ToLower(w)); bestDist < 0 || d < bestDist {
			best, bestDist = x, d
		}
	}
	return best
}
