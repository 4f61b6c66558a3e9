package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/audit"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/sqlite"
)

// withAudit serves the audit log on a fixture's server.
func withAudit(cfg *server.Config, db *sqlite.DB) {
	var err error
	if cfg.Audit, err = audit.NewLog(db); err != nil {
		panic(err)
	}
}

type auditPage struct {
	Events []audit.Event
	Next   *int64
}

// TestListAuditPages: GET /v1/audit goes back page by page, with limit
// and before, through every event its filter selects, each once, oldest
// first within a page; an event recorded meanwhile shifts no page; only
// admins may read it, and bad parameters are 400.
func TestListAuditPages(t *testing.T) {
	f := newFixture(t, withAudit)
	ctx := context.Background()
	record := func(actor, subject string) {
		t.Helper()
		if err := f.db.AuditInsert(ctx, store.AuditRow{At: time.Now().UnixMilli(), Actor: actor, Action: audit.Issue, Subject: subject}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 7 {
		record(fmt.Sprint("pager ", i), "pager")
		record("other", "other") // another subject's, among them
	}
	var (
		got    []string
		oldest int64 // the oldest id of the pages so far
	)
	path := "/v1/audit?subject=pager&limit=3"
	for pages := 1; ; pages++ {
		code, _, body := f.do("GET", path, f.admin, "", "")
		var p auditPage
		if err := json.Unmarshal([]byte(body), &p); code != 200 || err != nil || pages > 3 {
			t.Fatalf("page %d: %d %s", pages, code, body)
		}
		var actors []string
		for i, e := range p.Events {
			if e.Subject != "pager" || (i > 0 && e.ID <= p.Events[i-1].ID) || (oldest != 0 && e.ID >= oldest) {
				t.Errorf("page %d: event %+v out of place: %s", pages, e, body)
			}
			actors = append(actors, e.Actor)
		}
		got = append(actors, got...) // each page is older than the last
		if pages == 1 {
			record("pager 7", "pager") // after the first page: on none of this walk's
		}
		if p.Next == nil {
			if pages != 3 {
				t.Errorf("%d pages of 3 for 7 events", pages)
			}
			if strings.Contains(body, `"next"`) {
				t.Errorf("the last page has a next: %s", body)
			}
			break
		}
		if len(p.Events) != 3 || *p.Next != p.Events[0].ID {
			t.Fatalf("page %d: next %d, want the id of the oldest of 3 events: %s", pages, *p.Next, body)
		}
		oldest = *p.Next
		path = fmt.Sprintf("/v1/audit?subject=pager&limit=3&before=%d", *p.Next)
	}
	if want := "pager 0|pager 1|pager 2|pager 3|pager 4|pager 5|pager 6"; strings.Join(got, "|") != want {
		t.Errorf("paged through %q, want %q", strings.Join(got, "|"), want)
	}

	if code, _, body := f.do("GET", "/v1/audit?subject=nobody", f.admin, "", ""); code != 200 || compact(t, body) != `{"events":[]}` {
		t.Errorf("no events: %d %s", code, body)
	}
	code, _, body := f.do("GET", "/v1/audit?since="+time.Now().Add(time.Hour).Format(time.RFC3339), f.admin, "", "")
	if code != 200 || compact(t, body) != `{"events":[]}` {
		t.Errorf("since an hour from now: %d %s", code, body)
	}
	code, _, body = f.do("GET", "/v1/audit?subject=other&limit=1000", f.admin, "", "")
	var p auditPage
	if err := json.Unmarshal([]byte(body), &p); code != 200 || err != nil || len(p.Events) != 7 || p.Next != nil {
		t.Errorf("the other subject's 7 events: %d %s", code, body)
	}

	for _, tc := range []struct {
		query, says string
	}{
		{"before=0", "before"},
		{"before=-3", "before"},
		{"before=x", "before"},
		{"before=1.5", "before"},
		{"before=99999999999999999999", "before"},
		{"before=1&before=2", "before"},
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"since=yesterday", "since"},
		{"cursor=3", "cursor"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			code, _, body := f.do("GET", "/v1/audit?"+tc.query, f.admin, "", "")
			var e struct{ Error, ErrorDescription string }
			if err := json.Unmarshal([]byte(body), &e); code != http.StatusBadRequest || err != nil || e.Error != "invalid_request" {
				t.Fatalf("%d %s", code, body)
			}
			if !strings.Contains(body, tc.says) {
				t.Errorf("the error does not name %q: %s", tc.says, body)
			}
		})
	}

	if code, _, _ := f.do("GET", "/v1/audit", "", "", ""); code != http.StatusUnauthorized {
		t.Errorf("without a token: %d", code)
	}
	if code, _, _ := f.do("GET", "/v1/audit", f.issue("svc", []string{f.url}, "writ:issue"), "", ""); code != http.StatusForbidden {
		t.Errorf("without %s: %d", server.AdminScope, code)
	}
}
