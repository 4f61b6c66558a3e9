package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/duration"
	"github.com/writ-dev/writ/internal/jsonx"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/revocation"
)

// maxBody bounds request bodies.
const maxBody = 64 << 10

type apiError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, apiError{Error: code, Description: desc})
}

// decodeJSON reads a JSON object body strictly: the right content type, at
// most maxBody bytes, member names exactly as dst's json tags spell them
// (encoding/json alone would take "SUBJECT" for "subject") and none twice,
// nothing after the object.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) bool {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "invalid_request", "the body must be application/json")
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, http.StatusRequestEntityTooLarge, "invalid_request", fmt.Sprintf("the body exceeds %d bytes", maxBody))
		return false
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "unreadable body")
		return false
	}
	if err := knownMembers(body, dst); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "malformed JSON body: "+err.Error())
		return false
	}
	if err := json.Unmarshal(body, dst); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "malformed JSON body: "+err.Error())
		return false
	}
	return true
}

// knownMembers checks that body is one JSON object (jsonx: valid, no name
// twice, nothing after it) whose member names are, exactly, names that
// encoding/json gives the fields of the struct dst points to. Request
// structs are flat: embedded structs are not looked into.
func knownMembers(body []byte, dst any) error {
	t := reflect.TypeOf(dst).Elem()
	return jsonx.Members(body, func(name []byte, _ jsonx.Value) error {
		for i := range t.NumField() {
			if n := jsonName(t.Field(i)); n != "" && n == string(name) {
				return nil
			}
		}
		return fmt.Errorf("unknown field %q", name)
	})
}

// jsonName is the member name encoding/json uses for f, or "" for a field
// it leaves out.
func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	if !f.IsExported() || f.Anonymous || tag == "-" {
		return ""
	}
	if name, _, _ := strings.Cut(tag, ","); name != "" {
		return name
	}
	return f.Name
}

// jsonDuration reads a duration as internal/duration does ("90s", "1h",
// "30d", "2w"), or a number of seconds.
type jsonDuration time.Duration

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := duration.Parse(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = jsonDuration(v)
		return nil
	}
	var n float64
	if err := json.Unmarshal(b, &n); err != nil || n < 0 || n > 1e9 {
		return errors.New(`a duration is a string such as "1h", "30d" or "2w", or a number of seconds`)
	}
	*d = jsonDuration(time.Duration(n * float64(time.Second)))
	return nil
}

// optionalBody decodes a JSON body if there is one.
func optionalBody(w http.ResponseWriter, r *http.Request, dst any) bool {
	if r.ContentLength == 0 && r.Header.Get("Content-Type") == "" {
		return true
	}
	return decodeJSON(w, r, dst)
}

// statusClientClosedRequest is nginx's 499: the client closed the
// connection before the answer was ready.
const statusClientClosedRequest = 499

// fail maps an error to a response: request errors are 4xx with their
// message; anything else is logged and answered 500 without details.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, issuer.ErrDelegation):
		writeError(w, http.StatusForbidden, "access_denied", err.Error())
	case errors.Is(err, issuer.ErrRequest), errors.Is(err, revocation.ErrInvalid):
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
	case errors.Is(err, issuer.ErrNameTaken):
		writeError(w, http.StatusConflict, "conflict", err.Error())
	case errors.Is(err, issuer.ErrUnknownToken), errors.Is(err, revocation.ErrUnknownToken),
		errors.Is(err, revocation.ErrUnknownSubject), errors.Is(err, revocation.ErrUnknownKey),
		errors.Is(err, issuer.ErrUnknownResourceType):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away mid-request: nothing failed on this side,
		// and nobody reads the answer, whose status is for the metrics.
		s.log.Info("request abandoned by the client", "method", r.Method, "path", r.URL.Path, "err", err)
		w.WriteHeader(statusClientClosedRequest)
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "server_error", "internal error")
	}
}
