package server

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/writ-dev/writ/audit"
)

// listAudit answers GET /v1/audit: the newest events that the query
// selects, oldest first, and "next", when older ones match, the ?before=
// of the page before (keyset pagination, as GET /v1/tokens pages).
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	f, err := auditFilter(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	p, err := s.cfg.Audit.ListPage(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res := map[string]any{"events": p.Events}
	if p.Next != 0 { // the cursor of the page before
		res["next"] = p.Next
	}
	writeJSON(w, http.StatusOK, res)
}

// auditFilter returns the filter of a GET /v1/audit request, or an error
// saying what is wrong with its query.
func auditFilter(r *http.Request) (audit.Filter, error) {
	q := r.URL.Query()
	for name, v := range q {
		switch name {
		case "subject", "jti", "since", "limit", "before":
		default:
			return audit.Filter{}, fmt.Errorf("unknown query parameter %q", name)
		}
		if len(v) > 1 {
			return audit.Filter{}, fmt.Errorf("query parameter %q given twice", name)
		}
	}
	f := audit.Filter{Subject: q.Get("subject"), JTI: q.Get("jti"), Limit: 100}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return f, fmt.Errorf("since must be an RFC 3339 time")
		}
		f.Since = t
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			return f, fmt.Errorf("limit must be 1 to 1000")
		}
		f.Limit = n
	}
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 1 {
			return f, fmt.Errorf("before must be an event id, the next of the previous page")
		}
		f.Before = n
	}
	return f, nil
}
