package issuer

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/text"
)

// Page is one page of List's records.
type Page struct {
	Records []Record
	// Next, when more records match, is the Filter.After of the next
	// page; empty on the last page. It is opaque, and stays good while
	// tokens are issued: paging lists each matching token once.
	Next string
}

// ListPage returns a page of the records that f selects, in List's
// order, starting after f.After: at most f.Limit of them, and the cursor
// of the next page when more match. A malformed cursor is an error
// wrapping ErrRequest.
func (i *Issuer) ListPage(ctx context.Context, f Filter) (Page, error) {
	now := i.cfg.Now()
	sf, err := storeFilter(f, now)
	if err != nil {
		return Page{}, err
	}
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	sf.Limit, sf.At = f.Limit+1, now.Unix() // one more, to know whether there is a next page
	rows, err := i.cfg.Store.TokenList(ctx, sf)
	if err != nil {
		return Page{}, fmt.Errorf("issuer: list tokens: %w", err)
	}
	var p Page
	if len(rows) > f.Limit {
		rows = rows[:f.Limit]
		last := rows[len(rows)-1]
		p.Next = fmt.Sprintf("%d.%d", last.IssuedAt, last.Row)
		if f.Sort == SortLastUsed {
			p.Next = fmt.Sprintf("u%d.%d", last.LastUse, last.Row)
		}
	}
	p.Records = records(rows)
	return p, nil
}

// Count returns how many tokens f selects, all pages together (f.After
// and f.Limit are ignored): with ExpiringWithin, how many active tokens
// expire within it.
func (i *Issuer) Count(ctx context.Context, f Filter) (int64, error) {
	f.After = ""
	now := i.cfg.Now()
	sf, err := storeFilter(f, now)
	if err != nil {
		return 0, err
	}
	sf.At = now.Unix()
	n, err := i.cfg.Store.TokenCount(ctx, sf)
	if err != nil {
		return 0, fmt.Errorf("issuer: count tokens: %w", err)
	}
	return n, nil
}

// storeFilter returns the store's filter for f at the time now, but for
// its time and limit, or an error wrapping ErrRequest.
func storeFilter(f Filter, now time.Time) (store.TokenFilter, error) {
	sf := store.TokenFilter{Subject: f.Subject, Name: f.Name, Search: f.Search, Parent: f.Parent, Status: string(f.Status),
		NeverUsed: f.NeverUsed, ByLastUse: f.Sort == SortLastUsed}
	for what, v := range map[string]string{"subject": f.Subject, "name": f.Name, "search": f.Search, "parent": f.Parent} {
		if !text.Storable(v) {
			// No stored text can equal it, and PostgreSQL refuses it
			// even in a lookup.
			return sf, fmt.Errorf("%w: %s %+q is not valid UTF-8 text, or holds a NUL byte", ErrRequest, what, v)
		}
	}
	if f.Sort != SortIssued && f.Sort != SortLastUsed {
		return sf, fmt.Errorf("%w: sort %q: want issued or last_used", ErrRequest, f.Sort)
	}
	if f.Status != "" {
		if _, err := ParseStatus(string(f.Status)); err != nil {
			return sf, err
		}
	}
	switch {
	case f.ExpiringWithin < 0:
		return sf, fmt.Errorf("%w: a negative expiry window", ErrRequest)
	case f.ExpiringWithin > 0 && f.Status != "" && f.Status != StatusActive:
		return sf, fmt.Errorf("%w: expiring tokens are active ones, not %s", ErrRequest, f.Status)
	case f.ExpiringWithin > 0:
		sf.Status = string(StatusActive)
		sf.ExpiresBy = now.Add(f.ExpiringWithin).Unix()
	}
	if f.After != "" {
		var err error
		if sf.Before, err = parseCursor(f.After, sf.ByLastUse); err != nil {
			return sf, err
		}
	}
	return sf, nil
}

// parseCursor reads a Page.Next: "ISSUED.ROW", or, for the order by
// last use, "uLASTUSE.ROW" (LASTUSE 0 for the tokens never used).
func parseCursor(s string, byLastUse bool) (store.TokenCursor, error) {
	bad := fmt.Errorf("%w: malformed cursor %q", ErrRequest, s)
	if len(s) > 40 {
		return store.TokenCursor{}, fmt.Errorf("%w: malformed cursor", ErrRequest)
	}
	rest, lastUse := strings.CutPrefix(s, "u")
	if lastUse != byLastUse {
		return store.TokenCursor{}, fmt.Errorf("%w: the cursor %q is of another order", ErrRequest, s)
	}
	at, row, ok := strings.Cut(rest, ".")
	t, err1 := strconv.ParseInt(at, 10, 64)
	r, err2 := strconv.ParseInt(row, 10, 64)
	switch {
	case !ok || err1 != nil || err2 != nil || r <= 0 || t < 0 || t == 0 && !lastUse:
		return store.TokenCursor{}, bad
	case lastUse:
		return store.TokenCursor{LastUse: t, Row: r}, nil
	}
	return store.TokenCursor{IssuedAt: t, Row: r}, nil
}
