// Package lambdatest runs the Lambda example locally, for its tests and
// its cold-start measurement: a fake AWS Lambda Runtime API on loopback
// ([Runtime]), a writ issuer on loopback, served by writ serve or as a
// writ publish tree by a static file server ([Issuer]), and
// the build of a function as Lambda runs it ([Build]).
//
// No function links it: it links writ's issuing side and SQLite.
package lambdatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// The Runtime API's paths (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html).
const (
	apiNext      = "/2018-06-01/runtime/invocation/next"
	apiResponse  = "/2018-06-01/runtime/invocation/{id}/response"
	apiError     = "/2018-06-01/runtime/invocation/{id}/error"
	apiInitError = "/2018-06-01/runtime/init/error"
	maxBody      = 6 << 20 // Lambda's limit on a synchronous response
)

// Result is a function's answer to an invocation.
type Result struct {
	// Body is the response, or the error document when Error is set.
	Body []byte
	// Error reports that the function answered on the error path.
	Error bool
	// At is when the answer arrived.
	At time.Time
}

// Runtime is a fake Lambda Runtime API. Point a function at it with
// AWS_LAMBDA_RUNTIME_API=Addr.
type Runtime struct {
	// Addr is host:port, the value of AWS_LAMBDA_RUNTIME_API.
	Addr string
	// Deadline is the time each invocation is given; zero means 3 s,
	// Lambda's default timeout.
	Deadline time.Duration

	srv     *http.Server
	pending chan invocation

	mu        sync.Mutex
	waiting   map[string]chan Result
	firstNext time.Time
	initErr   chan []byte
}

type invocation struct {
	id    string
	event []byte
}

// NewRuntime starts a Runtime on a loopback port.
func NewRuntime() (*Runtime, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rt := &Runtime{Addr: ln.Addr().String(), pending: make(chan invocation), waiting: map[string]chan Result{},
		initErr: make(chan []byte, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+apiNext, rt.next)
	mux.HandleFunc("POST "+apiResponse, func(w http.ResponseWriter, r *http.Request) { rt.answer(w, r, false) })
	mux.HandleFunc("POST "+apiError, func(w http.ResponseWriter, r *http.Request) { rt.answer(w, r, true) })
	mux.HandleFunc("POST "+apiInitError, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
		select {
		case rt.initErr <- body:
		default:
		}
		w.WriteHeader(http.StatusAccepted)
	})
	rt.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go rt.srv.Serve(ln)
	return rt, nil
}

// Close stops the Runtime; a function waiting for its next invocation
// sees its connection close.
func (rt *Runtime) Close() { rt.srv.Close() }

// next hands the function the next invocation, as soon as there is one.
func (rt *Runtime) next(w http.ResponseWriter, r *http.Request) {
	rt.mu.Lock()
	if rt.firstNext.IsZero() {
		rt.firstNext = time.Now()
	}
	rt.mu.Unlock()
	var inv invocation
	select {
	case inv = <-rt.pending:
	case <-r.Context().Done():
		return
	}
	deadline := rt.Deadline
	if deadline == 0 {
		deadline = 3 * time.Second
	}
	h := w.Header()
	h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(deadline).UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:writ-example")
	h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
	h.Set("Content-Type", "application/json")
	w.Write(inv.event)
}

// answer delivers the function's response or error to its Invoke.
func (rt *Runtime) answer(w http.ResponseWriter, r *http.Request, isErr bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	res := Result{Body: body, Error: isErr, At: time.Now()}
	rt.mu.Lock()
	ch, ok := rt.waiting[r.PathValue("id")]
	delete(rt.waiting, r.PathValue("id"))
	rt.mu.Unlock()
	switch {
	case !ok:
		http.Error(w, "unknown request id", http.StatusBadRequest)
		return
	case err != nil:
		res = Result{Body: []byte(err.Error()), Error: true, At: time.Now()}
	}
	ch <- res
	w.WriteHeader(http.StatusAccepted)
}

// Invoke hands event to the function at its next request for work and
// returns its answer, or ctx's error.
func (rt *Runtime) Invoke(ctx context.Context, event []byte) (Result, error) {
	var b [16]byte
	rand.Read(b[:])
	inv := invocation{id: hex.EncodeToString(b[:]), event: event}
	ch := make(chan Result, 1)
	rt.mu.Lock()
	rt.waiting[inv.id] = ch
	rt.mu.Unlock()
	defer func() {
		rt.mu.Lock()
		delete(rt.waiting, inv.id)
		rt.mu.Unlock()
	}()
	select {
	case rt.pending <- inv:
	case <-ctx.Done():
		return Result{}, fmt.Errorf("the function did not ask for work: %w", ctx.Err())
	}
	select {
	case res := <-ch:
		return res, nil
	case <-ctx.Done():
		return Result{}, fmt.Errorf("the function did not answer: %w", ctx.Err())
	}
}

// FirstNext returns when the function first asked for work (the end of
// its initialisation), or false if it has not.
func (rt *Runtime) FirstNext() (time.Time, bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.firstNext, !rt.firstNext.IsZero()
}

// InitError returns the document a function posted to
// /runtime/init/error, waiting for it within ctx.
func (rt *Runtime) InitError(ctx context.Context) ([]byte, error) {
	select {
	case b := <-rt.initErr:
		return b, nil
	case <-ctx.Done():
		return nil, errors.New("no initialisation error was reported")
	}
}

// Event is an API Gateway HTTP API request (payload format 2.0) for GET
// /orders from ip, bearing token unless it is empty.
func Event(token, ip string) events.APIGatewayV2HTTPRequest {
	e := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "GET /orders", RawPath: "/orders",
		Headers: map[string]string{"user-agent": "lambdatest"}}
	if token != "" {
		e.Headers["authorization"] = "Bearer " + token
	}
	e.RequestContext.HTTP = events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: "/orders", Protocol: "HTTP/1.1", SourceIP: ip}
	return e
}
