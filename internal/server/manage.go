package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/writ-dev/writ/internal/duration"
	"github.com/writ-dev/writ/issuer"
)

// policyResponse is the lifetime policy as GET and PUT /v1/policy answer
// it.
type policyResponse struct {
	MaxTTL        string `json:"max_ttl"`         // as durations are written: "90d"
	MaxTTLSeconds int64  `json:"max_ttl_seconds"` // the same, for scripts
	Default       bool   `json:"default"`         // no policy was set: writ's default
}

func newPolicyResponse(p issuer.Policy) policyResponse {
	return policyResponse{duration.Format(p.MaxTTL), int64(p.MaxTTL / time.Second), p.Default}
}

func (s *Server) showPolicy(w http.ResponseWriter, r *http.Request) {
	p, err := s.cfg.Tokens.Policy(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newPolicyResponse(p))
}

type policyRequest struct {
	MaxTTL *jsonDuration `json:"max_ttl"`
}

func (s *Server) setPolicy(w http.ResponseWriter, r *http.Request) {
	var req policyRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.MaxTTL == nil {
		writeError(w, http.StatusBadRequest, "invalid_request", `"max_ttl" is required, such as "365d"`)
		return
	}
	p, err := s.cfg.Tokens.SetPolicy(completing(r), time.Duration(*req.MaxTTL), actor(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newPolicyResponse(p))
}

// listFilter reads the query of GET /v1/tokens: subject, name, parent,
// status, expiring_within, used (never: the tokens of which no use was
// reported), sort (issued, the default, or last_used), limit (1 to 1000,
// 100 by default) and cursor (the next of the previous page, in the same
// order).
func listFilter(r *http.Request) (issuer.Filter, error) {
	q := r.URL.Query()
	if err := onlyOnce(q, "subject", "name", "parent", "status", "expiring_within", "used", "sort", "limit", "cursor"); err != nil {
		return issuer.Filter{}, err
	}
	f := issuer.Filter{Subject: q.Get("subject"), Name: q.Get("name"), Parent: q.Get("parent"), After: q.Get("cursor"), Limit: 100}
	if st := q.Get("status"); st != "" {
		var err error
		if f.Status, err = issuer.ParseStatus(st); err != nil {
			return f, fmt.Errorf("status must be active, revoked or expired")
		}
	}
	switch q.Get("used") {
	case "":
	case "never":
		f.NeverUsed = true
	default:
		return f, fmt.Errorf("used must be never")
	}
	if v := q.Get("sort"); v != "" {
		var err error
		if f.Sort, err = issuer.ParseSort(v); err != nil {
			return f, fmt.Errorf("sort must be issued or last_used")
		}
	}
	var err error
	if f.Limit, err = pageLimit(q, f.Limit); err != nil {
		return f, err
	}
	if d := q.Get("expiring_within"); d != "" {
		v, err := duration.Parse(d)
		if err != nil || v <= 0 || v > issuer.MaxPolicyTTL {
			return f, fmt.Errorf("expiring_within must be a positive duration such as 7d, at most %s", duration.Format(issuer.MaxPolicyTTL))
		}
		f.ExpiringWithin = v
	}
	return f, nil
}

// onlyOnce returns an error naming a parameter of the query q that is not
// one of names, or that q gives twice.
func onlyOnce(q url.Values, names ...string) error {
	for name, v := range q {
		if !slices.Contains(names, name) {
			return fmt.Errorf("unknown query parameter %q", name)
		}
		if len(v) > 1 {
			return fmt.Errorf("query parameter %q given twice", name)
		}
	}
	return nil
}

// pageLimit returns the ?limit= of a listing's query q, 1 to 1000, or def
// without one.
func pageLimit(q url.Values, def int) (int, error) {
	l := q.Get("limit")
	if l == "" {
		return def, nil
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 1 || n > 1000 {
		return 0, fmt.Errorf("limit must be 1 to 1000")
	}
	return n, nil
}

// expiringSoon is the window of the gauge writ_tokens_expiring_soon.
const expiringSoon = 7 * 24 * time.Hour

// registerExpiring adds to reg the gauge of active tokens expiring within
// expiringSoon, counted by the database (an indexed count of the unexpired
// tokens, bounded by a timeout) at most every expiringRecount: /metrics
// answers anyone, and scrapes, however many, must not load the database.
func registerExpiring(reg *prometheus.Registry, tokens *issuer.Issuer) {
	var (
		mu      sync.Mutex
		counted time.Time
		value   float64
	)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "writ_tokens_expiring_soon",
		Help: "Active tokens that expire within 7 days, for all issuers on the database, counted at most every 30 seconds: regenerate them (writ token list --expiring-within 7d). -1 when the database did not answer.",
	}, func() float64 {
		mu.Lock() // concurrent scrapes wait for one count
		defer mu.Unlock()
		if !counted.IsZero() && time.Since(counted) < expiringRecount {
			return value
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n, err := tokens.Count(ctx, issuer.Filter{ExpiringWithin: expiringSoon})
		counted, value = time.Now(), float64(n)
		if err != nil {
			value = -1
		}
		return value
	}))
}

// expiringRecount is how long the gauge writ_tokens_expiring_soon keeps a
// count.
const expiringRecount = 30 * time.Second
