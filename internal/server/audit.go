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

// auditFilter reads the query of GET /v1/audit: subject, jti, since (RFC
// 3339), limit (1 to 1000, 100 by default) and before (the next of the
// previous page).
func auditFilter(r *http.Request) (audit.Filter, error) {
	q := r.URL.Query()
	if err := onlyOnce(q, "subject", "jti", "since", "limit", "before"); err != nil {
		return audit.Filter{}, err
	}
	f := audit.Filter{Subject: q.Get("subject"), JTI: q.Get("jti")}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return f, fmt.Errorf("since must be an RFC 3339 time")
		}
		f.Since = t
	}
	var err error
	if f.Limit, err = pageLimit(q, 100); err != nil {
		return f, err
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
