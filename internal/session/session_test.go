package session_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/session"
	"github.com/writ-dev/writ/internal/store/sqlite"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/verifier"
)

func newStore(t *testing.T, now *time.Time) *session.Store {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "writ.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := session.New(session.Config{Store: db, Issuer: "https://writ.example", Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	st := newStore(t, &now)
	claims := func(exp time.Duration) *verifier.Claims {
		return &verifier.Claims{Subject: "alice", Audience: []string{"https://writ.example"}, Scope: "writ:admin", ID: "jti-1", KeyID: "k1",
			IssuedAt: now, ExpiresAt: now.Add(exp)}
	}
	for _, tc := range []struct {
		name         string
		exp, maxAge  time.Duration
		wantLifetime time.Duration
	}{
		{"ends with its token", time.Hour, 0, time.Hour},
		{"at most MaxAge", 30 * 24 * time.Hour, 0, session.MaxAge},
		{"shorter maxAge", 30 * 24 * time.Hour, time.Minute, time.Minute},
		{"maxAge above MaxAge", 30 * 24 * time.Hour, 48 * time.Hour, session.MaxAge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, s, err := st.Start(ctx, claims(tc.exp), tc.maxAge)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Expires.Sub(now); got != tc.wantLifetime {
				t.Errorf("lasts %v, want %v", got, tc.wantLifetime)
			}
			got, err := st.Get(ctx, id)
			if err != nil || got.Claims.Subject != "alice" || got.Claims.Issuer != "https://writ.example" || got.CSRF() != s.CSRF() {
				t.Fatalf("Get = %+v, %v", got, err)
			}
			if !got.CheckCSRF(s.CSRF()) || got.CheckCSRF("") || got.CheckCSRF(strings.ToUpper(s.CSRF())) {
				t.Error("CheckCSRF accepts the wrong values or refuses the right one")
			}
			later := now
			now = now.Add(tc.wantLifetime)
			if _, err := st.Get(ctx, id); !errors.Is(err, session.ErrNoSession) {
				t.Errorf("Get at its expiry: %v, want ErrNoSession", err)
			}
			now = later
		})
	}
	t.Run("ids", func(t *testing.T) {
		a, _, _ := st.Start(ctx, claims(time.Hour), 0)
		b, sb, _ := st.Start(ctx, claims(time.Hour), 0)
		sa, _ := st.Get(ctx, a)
		if a == b || sa.CSRF() == sb.CSRF() {
			t.Error("two sessions share an id or a CSRF value")
		}
		for _, junk := range []string{"", "x", a + "A", strings.Repeat("A", 43), "../" + a} {
			if _, err := st.Get(ctx, junk); !errors.Is(err, session.ErrNoSession) {
				t.Errorf("Get(%q): %v, want ErrNoSession", junk, err)
			}
		}
		if err := st.End(ctx, a); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Get(ctx, a); !errors.Is(err, session.ErrNoSession) {
			t.Errorf("Get after End: %v", err)
		}
		if _, err := st.Get(ctx, b); err != nil {
			t.Errorf("End ended another session: %v", err)
		}
	})
	t.Run("expired token", func(t *testing.T) {
		if _, _, err := st.Start(ctx, claims(0), 0); !errors.Is(err, session.ErrNoSession) {
			t.Errorf("Start with a token expiring now: %v", err)
		}
	})
}

func TestLinks(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	st := newStore(t, &now)
	tok := &issuer.Token{ID: "jti-2", KeyID: "k1", IssuedAt: now, ExpiresAt: now.Add(2 * time.Hour)}
	req := issuer.Request{Subject: "bob", Audience: []string{"https://writ.example"}, Scopes: []string{issuer.IssueScope, "orders:read"}}
	code, err := st.Link(ctx, tok, req)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(10 * time.Minute) // its session ends with its token
	id, s, err := st.TakeLink(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	if s.Claims.Subject != "bob" || !s.Claims.HasScope("orders:read") || s.Claims.ID != "jti-2" || !s.Expires.Equal(tok.ExpiresAt) {
		t.Errorf("the link's session: %+v %+v", s, s.Claims)
	}
	if id == code {
		t.Error("the session id is the link's code")
	}
	if _, _, err := st.TakeLink(ctx, code); !errors.Is(err, session.ErrNoLink) {
		t.Errorf("a link taken twice: %v", err)
	}
	late, err := st.Link(ctx, tok, req)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(session.LinkTTL)
	if _, _, err := st.TakeLink(ctx, late); !errors.Is(err, session.ErrNoLink) {
		t.Errorf("a link taken after LinkTTL: %v", err)
	}
	if n, err := st.Prune(ctx); err != nil || n != 1 {
		t.Errorf("Prune = %d, %v; want the expired link", n, err)
	}
}
