package remote_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/accesstoken"
	"github.com/writ-dev/writ/internal/feed"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/remote"
	"github.com/writ-dev/writ/verifier/revoked"
)

const feedIssuer = "https://issuer.test"

// feedServer serves a signed revocation feed document that a test writes.
type feedServer struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	doc    string
	since  []string // the since of each request
	auth   []string // its Authorization header
}

func newFeedServer(t *testing.T) *feedServer {
	s := &feedServer{status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.since = append(s.since, r.URL.Query().Get("since"))
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		if s.status != http.StatusOK {
			http.Error(w, "no", s.status)
			return
		}
		w.Header().Set("Content-Type", "application/jwt")
		w.Write([]byte(s.doc))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *feedServer) set(status int, doc string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.doc = status, doc
}

// feedKey signs feed documents.
type feedKey struct {
	kid  string
	priv ed25519.PrivateKey
}

func newFeedKey(t testing.TB, kid string) (*feedKey, *verifier.Key) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := verifier.NewKey(kid, verifier.EdDSA, pub)
	if err != nil {
		t.Fatal(err)
	}
	return &feedKey{kid, priv}, k
}

func (k *feedKey) sign(t testing.TB, typ string, payload []byte) string {
	t.Helper()
	doc, err := accesstoken.SignJWT(verifier.EdDSA, k.kid, typ, k.priv, payload)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestFeed: a Feed reads what the server signs, checks the signature, the
// type, the issuer, the sequence numbers and the signing time, and maps a
// 409 to ErrAhead.
func TestFeed(t *testing.T) {
	ctx := context.Background()
	key, vk := newFeedKey(t, "kid-1")
	other, _ := newFeedKey(t, "kid-1") // the same kid, another key
	stranger, _ := newFeedKey(t, "kid-2")
	ks, err := verifier.NewKeySet(vk)
	if err != nil {
		t.Fatal(err)
	}
	srv := newFeedServer(t)
	f, err := remote.NewFeed(remote.FeedConfig{URL: srv.URL + "/v1/revocations?x=1", Issuer: feedIssuer, Keys: ks,
		Token: func(context.Context) (string, error) { return "feed-token", nil }})
	if err != nil {
		t.Fatal(err)
	}
	signed := time.Now().Add(-time.Minute).Truncate(time.Second)
	head := feed.Head{Issuer: feedIssuer, IssuedAt: signed.Unix(), Epoch: "e1", Since: 0, Seq: 3, NextUpdate: signed.Unix() + 1}
	entries := &feed.Batch{
		Tokens:   []feed.RevokedToken{{ID: feed.TokenIDOf("jti-1"), EffectiveAt: 1, ExpiresAt: 2}},
		Subjects: []feed.SubjectCutoff{{Subject: "alice", IssuedBefore: 3, ExpiresAt: 4}},
		Keys:     []feed.RevokedKey{{KID: "old", ExpiresAt: 5}},
	}
	srv.set(http.StatusOK, key.sign(t, feed.Type, feed.Append(nil, &head, entries)))
	b, err := f.Changes(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b.Seq != 3 || b.Epoch != "e1" || !b.AsOf.Equal(signed) || len(b.Tokens) != 1 || b.Tokens[0] != entries.Tokens[0] ||
		len(b.Subjects) != 1 || b.Subjects[0] != entries.Subjects[0] || len(b.Keys) != 1 || b.Keys[0] != entries.Keys[0] {
		t.Errorf("batch %+v", b)
	}
	if srv.since[0] != "0" || srv.auth[0] != "Bearer feed-token" {
		t.Errorf("request since=%q, Authorization %q", srv.since[0], srv.auth[0])
	}
	// Changes after 2 may start before 2, and must reach it.
	if _, err := f.Changes(ctx, 2); err != nil {
		t.Errorf("changes after 2 from a document of 0 to 3: %v", err)
	}

	with := func(mod func(h *feed.Head)) []byte {
		h := head
		mod(&h)
		return feed.Append(nil, &h, entries)
	}
	payload := feed.Append(nil, &head, entries)
	tests := []struct {
		name  string
		doc   string
		since int64
		want  error  // wrapped, when set
		msg   string // in the message
	}{
		{"an access token's typ", key.sign(t, accesstoken.Typ, payload), 0, verifier.ErrType, ""},
		{"another typ", key.sign(t, "JWT", payload), 0, verifier.ErrType, ""},
		{"signed by another key", other.sign(t, feed.Type, payload), 0, verifier.ErrSignature, ""},
		{"signed by an unknown key", stranger.sign(t, feed.Type, payload), 0, verifier.ErrUnknownKey, ""},
		{"not a JWS", "nonsense", 0, verifier.ErrMalformed, ""},
		{"another issuer", key.sign(t, feed.Type, with(func(h *feed.Head) { h.Issuer = "https://elsewhere" })), 0, nil, `from "https://elsewhere"`},
		{"starting after since", key.sign(t, feed.Type, with(func(h *feed.Head) { h.Since = 1 })), 0, nil, "answers since=1"},
		{"ending before since", key.sign(t, feed.Type, payload), 4, nil, "seq=3 for since=4"},
		{"no signing time", key.sign(t, feed.Type, with(func(h *feed.Head) { h.IssuedAt = 0 })), 0, nil, "without iat"},
		{"a case-folded member", key.sign(t, feed.Type, []byte(strings.Replace(string(payload), `"seq"`, `"SEQ"`, 1))), 0, feed.ErrMalformed, ""},
		{"a member twice", key.sign(t, feed.Type, []byte(strings.Replace(string(payload), `"seq":3`, `"seq":3,"seq":4`, 1))), 0, feed.ErrMalformed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.set(http.StatusOK, tt.doc)
			b, err := f.Changes(ctx, tt.since)
			wantRefused(t, b, err, tt.want, tt.msg)
		})
	}
	for status, want := range map[int]string{
		http.StatusConflict:            "", // ErrAhead
		http.StatusUnauthorized:        "writ:revocations",
		http.StatusForbidden:           "writ:revocations",
		http.StatusInternalServerError: strconv.Itoa(http.StatusInternalServerError),
	} {
		srv.set(status, "")
		_, err := f.Changes(ctx, 7)
		if errors.Is(err, revoked.ErrAhead) != (status == http.StatusConflict) || !strings.Contains(err.Error(), want) {
			t.Errorf("answer %d: %v", status, err)
		}
	}
}

// wantRefused fails the test unless a Feed's Changes refused its input
// with an error wrapping want (when set) and naming msg.
func wantRefused(t *testing.T, b *revoked.Batch, err, want error, msg string) {
	t.Helper()
	if err == nil || b != nil {
		t.Fatalf("%+v, %v; want an error", b, err)
	}
	if want != nil && !errors.Is(err, want) {
		t.Errorf("%v, want %v", err, want)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("%v, want a message naming %q", err, msg)
	}
}
