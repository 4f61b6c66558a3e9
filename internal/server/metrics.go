package server

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/verifier"
)

// metrics are the server's Prometheus metrics, in a registry of its own.
type metrics struct {
	reg           *prometheus.Registry
	issued        *prometheus.CounterVec
	verifications *prometheus.CounterVec
	revocations   *prometheus.CounterVec
	keyAge        *prometheus.GaugeVec
	untrusted     prometheus.Gauge
	superseded    prometheus.Gauge
	latency       *prometheus.HistogramVec
	usage         usageMetrics
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			// This process's issuances, as Prometheus counters are: summed
			// over replicas, they add up. writ token issue runs in a
			// process of its own, recorded in the audit log.
			Name: "writ_tokens_issued_total", Help: "Tokens issued through this server's admin API (issue and regenerate), by format; not those of the writ CLI.",
		}, []string{"format"}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "writ_verifications_total", Help: "Tokens checked by whoami, introspection (RFC 7662) and revocation (RFC 7009), by result: valid, or the reason for refusal.",
		}, []string{"result"}),
		revocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "writ_revocations_total", Help: "Revocation requests answered with success by this server's API (admin, regenerate and RFC 7009), by kind, repeats that changed nothing included; not those of the writ CLI (see the audit log).",
		}, []string{"kind"}),
		keyAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "writ_key_age_seconds", Help: "Age of each published key, by format and state.",
		}, []string{"kid", "format", "state"}),
		untrusted: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "writ_keys_untrusted", Help: "Key rows that the master key does not vouch for (written without it): never published nor trusted; alert on any.",
		}),
		superseded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "writ_master_key_superseded", Help: "1 while this server holds a master key that writ master-key rotate replaced: give it the new key before it restarts.",
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "writ_http_request_duration_seconds", Help: "HTTP request latency, by route and status code.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"route", "code"}),
	}
	m.reg.MustRegister(m.issued, m.verifications, m.revocations, m.keyAge, m.untrusted, m.superseded, m.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.usage = newUsageMetrics(m.reg)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// observeKeys records the published keys and the untrusted key rows.
func (m *metrics) observeKeys(published []keys.Record, untrusted []string, now time.Time) {
	m.keyAge.Reset()
	for _, r := range published {
		m.keyAge.WithLabelValues(r.ID, string(r.Format), string(r.State)).Set(now.Sub(r.CreatedAt).Seconds())
	}
	m.untrusted.Set(float64(len(untrusted)))
}

// resultLabel names a verification failure by its sentinel, never by its
// message (which may quote the token's claims).
func resultLabel(err error) string {
	for _, x := range []struct {
		err   error
		label string
	}{
		{verifier.ErrExpired, "expired"}, {verifier.ErrNotYetValid, "not_yet_valid"},
		{verifier.ErrSignature, "bad_signature"}, {verifier.ErrUnknownKey, "unknown_key"},
		{verifier.ErrRevoked, "revoked"}, {verifier.ErrAudience, "wrong_audience"},
		{verifier.ErrIssuer, "wrong_issuer"}, {verifier.ErrAlgorithm, "bad_algorithm"},
		{verifier.ErrType, "wrong_type"}, {verifier.ErrTooLarge, "too_large"}, {verifier.ErrMalformed, "malformed"},
		{verifier.ErrClientIP, "client_ip"},
	} {
		if errors.Is(err, x.err) {
			return x.label
		}
	}
	return "error"
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap gives http.ResponseController the connection's writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// instrument records the latency and status of every request to route and
// logs failures. Logs carry the method, route and status: never a header,
// query string or body, where tokens travel.
func (s *Server) instrument(route string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		h(rec, r)
		if rec.code == 0 {
			rec.code = http.StatusOK
		}
		d := time.Since(start)
		s.metrics.latency.WithLabelValues(route, strconv.Itoa(rec.code)).Observe(d.Seconds())
		if rec.code >= 500 {
			s.log.Warn("request", "method", r.Method, "route", route, "status", rec.code, "duration", d)
		} else {
			s.log.Debug("request", "method", r.Method, "route", route, "status", rec.code, "duration", d)
		}
	})
}
