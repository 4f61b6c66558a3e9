package issuer

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/store"
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
	sf := store.TokenFilter{Subject: f.Subject, Name: f.Name, Search: f.Search, Parent: f.Parent, Status: string(f.Status)}
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
		if sf.Before, err = parseCursor(f.After); err != nil {
			return sf, err
		}
	}
	return sf, nil
}

// parseCursor reads a Page.Next.
func parseCursor(s string) (store.TokenCursor, error) {
	if len(s) > 40 {
		return store.TokenCursor{}, fmt.Errorf("%w: malformed cursor", ErrRequest)
	}
	at, row, ok := strings.Cut(s, ".")
	c := store.TokenCursor{}
	var err1, err2 error
	c.IssuedAt, err1 = strconv.ParseInt(at, 10, 64)
	c.Row, err2 = strconv.ParseInt(row, 10, 64)
	if !ok || err1 != nil || err2 != nil || c.IssuedAt <= 0 || c.Row <= 0 {
		return store.TokenCursor{}, fmt.Errorf("%w: malformed cursor %q", ErrRequest, s)
	}
	return c, nil
}
