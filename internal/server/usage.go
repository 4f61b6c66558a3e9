package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

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
// One report is recorded at a time: the others are answered 429, to be
// sent again after Retry-After (verifier/usage.Reporter does), so that
// reporters cannot hold the database's write lock from revocations and
// issuance, nor the server's memory, however many they are.
func (s *Server) recordUsage(w http.ResponseWriter, r *http.Request) {
	select {
	case s.usageSlot <- struct{}{}:
		defer func() { <-s.usageSlot }()
	default:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "slow_down", "another usage report is being recorded: send this one again after Retry-After")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "invalid_request", "the body must be application/json")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, usage.MaxBody))
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
	rep, err := s.cfg.Tokens.RecordUsage(completing(r), in, actor(r))
	if errors.Is(err, issuer.ErrUsagePartlyRecorded) {
		// Sent again, the parts recorded would count twice: the uses
		// not recorded are answered as ignored.
		s.log.Error("usage report recorded in part", "err", err)
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	s.metrics.usage.observe(uses, rep)
	writeJSON(w, http.StatusAccepted, usageResponse{Accepted: rep.Recorded, Ignored: rep.Ignored()})
}

// recordOwnUses records the uses of the tokens that the server verified
// itself (Config.Send of its reporter), as POST /v1/usage records those
// that verifiers report; its metrics count only the reported ones.
func (s *Server) recordOwnUses(ctx context.Context, uses []verifier.Use) error {
	in := make([]issuer.Use, len(uses))
	for i, u := range uses {
		in[i] = issuer.Use(u)
	}
	_, err := s.cfg.Tokens.RecordUsage(ctx, in, "serve")
	switch {
	case errors.Is(err, issuer.ErrRequest):
		return fmt.Errorf("%w: %w", verifierusage.ErrRefused, err)
	case errors.Is(err, issuer.ErrUsagePartlyRecorded):
		s.log.Error("the server's own uses recorded in part", "err", err)
	case err != nil:
		return err
	}
	return nil // not counted by the metrics of POST /v1/usage
}
