package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/writ-dev/writ/internal/b64"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier/remote"
)

// FeedType is the typ of the signed revocation feed document.
const FeedType = remote.FeedType

// Feed is the payload of the revocation feed: the entries in force after
// sequence Since, up to Seq. Times are unix seconds; token ids are the
// base64url TokenIDs of revocation.TokenIDOf.
type Feed struct {
	Issuer     string   `json:"iss"`
	IssuedAt   int64    `json:"iat"`
	Epoch      string   `json:"epoch"`
	Since      int64    `json:"since"`
	Seq        int64    `json:"seq"`
	NextUpdate int64    `json:"next_update"`
	Tokens     [][3]any `json:"tokens"`   // [id, effective_at, expires_at]
	Subjects   [][3]any `json:"subjects"` // [subject, issued_before, expires_at]
	Keys       [][2]any `json:"keys"`     // [kid, expires_at]
}

// revocationFeed serves the revocation list as a JWS signed by the active
// JWT key: everything in force, or with ?since=SEQ the changes after SEQ.
func (s *Server) revocationFeed(w http.ResponseWriter, r *http.Request) {
	var since int64
	if v := r.URL.Query().Get("since"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "invalid_request", "since must be a sequence number")
			return
		}
		since = n
	}
	w.Header().Set("Cache-Control", "no-cache")
	if tag := feedETag(s.snap.Epoch(), since, s.snap.Seq()); etagMatch(r.Header.Get("If-None-Match"), tag) {
		w.Header().Set("ETag", tag)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	b, err := s.cfg.Revocations.Changes(r.Context(), since)
	if errors.Is(err, revocation.ErrAhead) {
		writeError(w, http.StatusConflict, "since_ahead", err.Error()+": read it from 0")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := time.Now()
	f := Feed{
		Issuer: s.cfg.Issuer, IssuedAt: now.Unix(), Epoch: b.Epoch, Since: since, Seq: b.Seq,
		NextUpdate: now.Add(s.cfg.Refresh).Unix(),
		Tokens:     make([][3]any, 0, len(b.Tokens)),
		Subjects:   make([][3]any, 0, len(b.Subjects)),
		Keys:       make([][2]any, 0, len(b.Keys)),
	}
	for _, t := range b.Tokens {
		f.Tokens = append(f.Tokens, [3]any{b64.Encode(t.ID[:]), t.EffectiveAt, t.ExpiresAt})
	}
	for _, c := range b.Subjects {
		f.Subjects = append(f.Subjects, [3]any{c.Subject, c.IssuedBefore, c.ExpiresAt})
	}
	for _, k := range b.Keys {
		f.Keys = append(f.Keys, [2]any{k.KID, k.ExpiresAt})
	}
	payload, err := json.Marshal(f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	doc, err := s.cfg.Tokens.SignDocument(r.Context(), FeedType, payload)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/jwt")
	w.Header().Set("ETag", feedETag(b.Epoch, since, b.Seq))
	w.Write([]byte(doc))
}

func feedETag(epoch string, since, seq int64) string {
	return fmt.Sprintf(`"rev-%s-%d-%d"`, epoch, since, seq)
}
