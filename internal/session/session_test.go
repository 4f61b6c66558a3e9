package session_test

import (
	"bytes"
	"context"
	"errors"
	"os"
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
	return newStoreIdle(t, now, 0)
}

// newStoreIdle returns a store whose sessions end after idle without a
// request (zero: the default).
func newStoreIdle(t *testing.T, now *time.Time, idle time.Duration) *session.Store {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "writ.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := session.New(session.Config{Store: db, Issuer: "https://writ.example", Idle: idle, Now: func() time.Time { return *now }})
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
	tok := &issuer.Record{ID: "jti-2", KeyID: "k1", IssuedAt: now, ExpiresAt: now.Add(2 * time.Hour),
		Subject: "bob", Audience: []string{"https://writ.example"}, Scopes: []string{issuer.IssueScope, "orders:read"}}
	code, err := st.Link(ctx, tok)
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
	late, err := st.Link(ctx, tok)
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

func TestIdle(t *testing.T) {
	ctx := context.Background()
	start := time.Unix(1_800_000_000, 0)
	now := start
	st := newStore(t, &now)
	c := &verifier.Claims{Subject: "alice", Audience: []string{"https://writ.example"}, Scope: "writ:admin", ID: "jti-1", KeyID: "k1",
		IssuedAt: start, ExpiresAt: start.Add(24 * time.Hour)}
	for _, tc := range []struct {
		name string
		idle time.Duration // Config.Idle
		// gets are the times of the requests after the start; the last
		// one is refused when ends.
		gets []time.Duration
		ends bool
	}{
		{"used", 0, []time.Duration{29 * time.Minute, 58 * time.Minute, 87 * time.Minute}, false},
		{"idle", 0, []time.Duration{session.DefaultIdle}, true},
		{"idle after a request", 0, []time.Duration{10 * time.Minute, 10*time.Minute + session.DefaultIdle}, true},
		{"just under idle", 0, []time.Duration{session.DefaultIdle - time.Second}, false},
		// Requests are recorded once a minute: the last one went
		// unrecorded, and the session ends within a minute of Idle.
		{"recorded once a minute", 0, []time.Duration{30 * time.Second, session.DefaultIdle}, true},
		// A 2-minute Idle: requests are recorded every 12 s.
		{"2m used", 2 * time.Minute, []time.Duration{110 * time.Second, 220 * time.Second, 330 * time.Second}, false},
		{"2m idle", 2 * time.Minute, []time.Duration{2 * time.Minute}, true},
		{"2m just under idle", 2 * time.Minute, []time.Duration{2*time.Minute - time.Second}, false},
		{"2m unrecorded", 2 * time.Minute, []time.Duration{11 * time.Second, 2 * time.Minute}, true},
		{"2m recorded", 2 * time.Minute, []time.Duration{12 * time.Second, 2*time.Minute + 11*time.Second}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now = start
			st := st
			if tc.idle != 0 {
				st = newStoreIdle(t, &now, tc.idle)
			}
			id, _, err := st.Start(ctx, c, 0)
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range tc.gets {
				now = start.Add(d)
				_, err := st.Get(ctx, id)
				if last := i == len(tc.gets)-1; last && tc.ends {
					if !errors.Is(err, session.ErrNoSession) {
						t.Fatalf("Get at +%v: %v, want ErrNoSession", d, err)
					}
				} else if err != nil {
					t.Fatalf("Get at +%v: %v", d, err)
				}
			}
			if tc.ends {
				// Ended, not only refused: earlier it is gone too.
				now = start.Add(time.Minute)
				if _, err := st.Get(ctx, id); !errors.Is(err, session.ErrNoSession) {
					t.Errorf("an idle session was refused but not ended: %v", err)
				}
			}
		})
	}
	t.Run("link", func(t *testing.T) {
		now = start
		code, err := st.Link(ctx, &issuer.Record{ID: "jti-2", KeyID: "k1", IssuedAt: start, ExpiresAt: start.Add(24 * time.Hour),
			Subject: "bob", Audience: []string{"https://writ.example"}, Scopes: []string{"writ:admin"}})
		if err != nil {
			t.Fatal(err)
		}
		now = start.Add(10 * time.Minute) // idle counts from the sign-in
		id, _, err := st.TakeLink(ctx, code)
		if err != nil {
			t.Fatal(err)
		}
		now = now.Add(session.DefaultIdle - time.Second)
		if _, err := st.Get(ctx, id); err != nil {
			t.Fatalf("Get within Idle of the link's sign-in: %v", err)
		}
		now = now.Add(session.DefaultIdle)
		if _, err := st.Get(ctx, id); !errors.Is(err, session.ErrNoSession) {
			t.Errorf("Get after Idle: %v, want ErrNoSession", err)
		}
	})
}

// TestIdleBounds: New refuses an Idle under MinIdle or above MaxAge.
func TestIdleBounds(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "writ.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, idle := range []time.Duration{-time.Minute, time.Nanosecond, session.MinIdle - time.Second, session.MaxAge + time.Second} {
		if _, err := session.New(session.Config{Store: db, Issuer: "https://writ.example", Idle: idle}); err == nil {
			t.Errorf("New with Idle %v: no error", idle)
		}
	}
	for _, idle := range []time.Duration{session.MinIdle, session.MaxAge} {
		if _, err := session.New(session.Config{Store: db, Issuer: "https://writ.example", Idle: idle}); err != nil {
			t.Errorf("New with Idle %v: %v", idle, err)
		}
	}
}

func TestHeld(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "writ.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := session.New(session.Config{Store: db, Issuer: "https://writ.example", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	c := &verifier.Claims{Subject: "alice", Audience: []string{"https://writ.example"}, Scope: "writ:admin", ID: "jti-1", KeyID: "k1",
		IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	_, a, err := st.Start(ctx, c, 0)
	if err != nil {
		t.Fatal(err)
	}
	bID, b, err := st.Start(ctx, c, 0)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("eyJhbGciOiJFZERTQSJ9.a-secret-of-the-test")
	if err := st.Hold(ctx, a, "jti-9", secret); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "writ.db*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, secret) || bytes.Contains(raw, []byte("a-secret-of-the-test")) {
			t.Errorf("%s holds the secret in clear", filepath.Base(name))
		}
	}
	for _, tc := range []struct {
		name string
		s    *session.Session
		key  string
		want []byte
	}{
		{"another session", b, "jti-9", nil},
		{"another name", a, "jti-8", nil},
		{"its own", a, "jti-9", secret},
		{"once", a, "jti-9", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := st.TakeHeld(ctx, tc.s, tc.key)
			switch {
			case tc.want == nil && !errors.Is(err, session.ErrNothingHeld):
				t.Errorf("TakeHeld = %q, %v; want ErrNothingHeld", got, err)
			case tc.want != nil && (err != nil || !bytes.Equal(got, tc.want)):
				t.Errorf("TakeHeld = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if err := st.End(ctx, bID); err != nil {
		t.Fatal(err)
	}
	if err := st.Hold(ctx, b, "jti-9", secret); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("Hold on an ended session: %v, want ErrNoSession", err)
	}
}
