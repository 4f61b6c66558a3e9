package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/writ-dev/writ/internal/usage"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/verifier"
	verifierusage "github.com/writ-dev/writ/verifier/usage"
)

// UsageScope is the scope that POST /v1/usage requires: a verifier's
// token, reporting the uses of the tokens it verified.
const UsageScope = "writ:usage"

// usageMetrics count the usage reports.
type usageMetrics struct {
	uses            *prometheus.CounterVec
	unknown         prometheus.Counter
	newNetwork      prometheus.Counter
	afterRevocation prometheus.Counter
}

func newUsageMetrics(reg *prometheus.Registry) usageMetrics {
	m := usageMetrics{
		uses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "writ_usage_uses_total", Help: "Uses of tokens that verifiers reported to this server (POST /v1/usage), recorded or not, by outcome: accepted, a refusal reason of writ's verifiers, or other.",
		}, []string{"outcome"}),
		unknown: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "writ_usage_unknown_tokens_total", Help: "Reported uses of jtis that this issuer never issued, ignored.",
		}),
		newNetwork: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "writ_usage_new_network_total", Help: "Reported uses of a token from a network none of its earlier uses came from (each recorded as a token.used.new_network event).",
		}),
		afterRevocation: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "writ_usage_after_revocation_total", Help: "Reported uses of a token after its revocation (recorded as token.used.after_revocation events, at most one per token an hour).",
		}),
	}
	reg.MustRegister(m.uses, m.unknown, m.newNetwork, m.afterRevocation)
	return m
}

// outcomeLabels are the outcomes that writ_usage_uses_total names; any
// other counts as "other", so that reporters cannot grow its labels.
var outcomeLabels = [...]string{usage.Accepted, usage.Revoked, usage.Expired, usage.NotYetValid, usage.Audience,
	usage.Issuer, usage.ClientIP, usage.Permission, usage.Scope, usage.Unavailable, usage.Unverifiable}

// observe counts the outcomes of uses, and what recording them did.
func (m usageMetrics) observe(uses []usage.Use, rep issuer.UsageReport) {
	var counts [len(outcomeLabels) + 1]int
	for _, u := range uses {
		n := len(outcomeLabels)
		for i, o := range outcomeLabels {
			if u.Outcome == o {
				n = i
				break
			}
		}
		counts[n]++
	}
	for i, n := range counts {
		if n > 0 {
			label := "other"
			if i < len(outcomeLabels) {
				label = outcomeLabels[i]
			}
			m.uses.WithLabelValues(label).Add(float64(n))
		}
	}
	m.signals(rep)
}

// signals counts what recording uses found: unknown tokens, new networks,
// uses after revocation. The server's own uses count here too (see
// recordOwnUses), though not in writ_usage_uses_total.
func (m usageMetrics) signals(rep issuer.UsageReport) {
	m.unknown.Add(float64(rep.UnknownTokens))
	m.newNetwork.Add(float64(rep.NewNetworks))
	m.afterRevocation.Add(float64(rep.AfterRevocation))
}

// usageResponse answers a usage report.
type usageResponse struct {
	Accepted int `json:"accepted"` // uses recorded
	Ignored  int `json:"ignored"`  // uses of unknown tokens, unverifiable ones, or at times out of range
}

// recordUsage is POST /v1/usage: a report of uses (package internal/usage),
// at most usage.MaxBody bytes, recorded by the issuer (RecordUsage) and
// answered 202 with the counts of uses recorded and ignored.
//
// What one reporter can hold is bounded: each reporting token has at most
// one report in flight (another is answered 429, with Retry-After, which
// verifier/usage.Reporter honours), at most maxUsageReads bodies are read
// at once, each within usageReadTime, and reports are recorded one at a
// time, each waiting at most usageRecordTime for its turn and then
// recorded within usageRecordTime, so that reporters cannot hold the
// database's write lock from revocations and issuance, nor the server's
// memory, however many they are. A report not recorded whole in time is
// answered with the uses left counted as ignored: a reporter that gave up
// waiting and sent it again would have the recorded ones counted twice,
// and verifier/usage.Reporter waits longer than usageRecordTime.
func (s *Server) recordUsage(w http.ResponseWriter, r *http.Request) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "invalid_request", "the body must be application/json")
		return
	}
	busy := func(why string) {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "slow_down", why+": send this report again after Retry-After")
	}
	reporter := ""
	if c, ok := verifier.ClaimsFromContext(r.Context()); ok {
		reporter = c.ID
	}
	if !s.usageReporters.take(reporter) {
		busy("another report of this token is in flight")
		return
	}
	defer s.usageReporters.release(reporter)
	select {
	case s.usageReads <- struct{}{}:
	default:
		busy("too many reports are being received")
		return
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(usageReadTime))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, usage.MaxBody))
	<-s.usageReads
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, http.StatusRequestEntityTooLarge, "invalid_request", fmt.Sprintf("the report exceeds %d bytes: send at most %d uses at once", usage.MaxBody, usage.MaxUses))
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "unreadable body")
		return
	}
	uses, err := usage.Parse(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	in := make([]issuer.Use, len(uses))
	for i, u := range uses {
		in[i] = issuer.Use(u)
	}
	// Its turn comes within usageRecordTime, or it is sent again later.
	wait := time.NewTimer(usageRecordTime)
	defer wait.Stop()
	select {
	case s.usageSlot <- struct{}{}:
		defer func() { <-s.usageSlot }()
	case <-wait.C:
		busy("other reports are being recorded")
		return
	case <-r.Context().Done():
		return
	}
	// Then it is recorded even if its sender hangs up, within
	// usageRecordTime.
	ctx, cancel := context.WithTimeout(completing(r), usageRecordTime)
	defer cancel()
	rep, err := s.cfg.Tokens.RecordUsage(ctx, in, actor(r))
	if errors.Is(err, issuer.ErrUsagePartlyRecorded) {
		// Sent again, the parts recorded would count twice: the uses
		// not recorded are answered as ignored.
		s.log.Error("usage report recorded in part", "err", err)
	} else if errors.Is(err, context.DeadlineExceeded) {
		busy("the database is busy; nothing of this report was recorded")
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	s.metrics.usage.observe(uses, rep)
	writeJSON(w, http.StatusAccepted, usageResponse{Accepted: rep.Recorded, Ignored: rep.Ignored()})
}

// closeUnread wraps the handler of POST /v1/usage, authentication
// included: an answer written before the handler has read any of the body
// (a refusal: no token, a wrong scope or content type, a report of the
// token already in flight) closes the connection. net/http would
// otherwise receive up to 256 KiB of the body before it answers, to keep
// the connection for another request, and a slow sender would wait for
// its answer until it had sent what is refused.
func closeUnread(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body := &readMark{ReadCloser: r.Body}
		r2 := new(http.Request)
		*r2 = *r // net/http keeps r, and its Body, for after the handler
		r2.Body = body
		h(&unreadCloser{ResponseWriter: w, body: body}, r2)
	}
}

// readMark is a request body that notes whether it has been read.
type readMark struct {
	io.ReadCloser
	read atomic.Bool
}

func (b *readMark) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.ReadCloser.Read(p)
}

// unreadCloser is closeUnread's ResponseWriter.
type unreadCloser struct {
	http.ResponseWriter
	body  *readMark
	wrote bool
}

func (w *unreadCloser) WriteHeader(code int) {
	if !w.wrote && !w.body.read.Load() {
		w.Header().Set("Connection", "close")
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *unreadCloser) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *unreadCloser) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// The bounds of recordUsage.
const (
	maxUsageReads   = 4
	usageReadTime   = 5 * time.Second
	usageRecordTime = 5 * time.Second
)

// inFlight is the set of reporting tokens (by jti) with a report in
// flight.
type inFlight struct {
	mu  sync.Mutex
	set map[string]bool
}

// take adds jti and reports true, or reports false when it is in flight
// already.
func (f *inFlight) take(jti string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.set[jti] {
		return false
	}
	if f.set == nil {
		f.set = map[string]bool{}
	}
	f.set[jti] = true
	return true
}

func (f *inFlight) release(jti string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.set, jti)
}

// recordOwnUses records the uses of the tokens that the server verified
// itself (Config.Send of its reporter), as POST /v1/usage records those
// that verifiers report; writ_usage_uses_total counts only the reported
// ones, the signals' metrics both.
func (s *Server) recordOwnUses(ctx context.Context, uses []verifier.Use) error {
	in := make([]issuer.Use, len(uses))
	for i, u := range uses {
		in[i] = issuer.Use(u)
	}
	rep, err := s.cfg.Tokens.RecordUsage(ctx, in, "serve")
	switch {
	case errors.Is(err, issuer.ErrRequest):
		return fmt.Errorf("%w: %w", verifierusage.ErrRefused, err)
	case errors.Is(err, issuer.ErrUsagePartlyRecorded):
		s.log.Error("the server's own uses recorded in part", "err", err)
	case err != nil:
		return err
	}
	s.metrics.usage.signals(rep)
	return nil
}
