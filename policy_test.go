package writ_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
	"github.com/writ-dev/writ/issuer"
)

// twoHandles returns two handles on one new database of each engine, as
// two replicas would open it.
func twoHandles(t *testing.T, engine string) (a, b *writ.DB) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	cfg := writ.InitConfig{Config: writ.Config{Path: filepath.Join(dir, "writ.db"), Issuer: testIssuer, Actor: "test"}}
	if engine == "postgres" {
		cfg.Config.Path, cfg.Config.URL, cfg.MasterKeyFile = "", pgtest.Start(t), filepath.Join(dir, "master.key")
	}
	for _, h := range []**writ.DB{&a, &b} {
		db, _, err := writ.Init(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		*h = db
	}
	return a, b
}

// TestPolicyAcrossHandles: a lifetime policy set through one handle is
// applied by another at once, raised or lowered, on both engines.
func TestPolicyAcrossHandles(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			a, b := twoHandles(t, engine)
			req := issuer.Request{Subject: "svc", Audience: []string{"api"}, TTL: 200 * 24 * time.Hour}
			if _, err := b.Issuer.Issue(ctx, req); !errors.Is(err, issuer.ErrRequest) {
				t.Fatalf("200 days under the default policy: %v", err)
			}
			if _, err := a.Issuer.SetPolicy(ctx, 365*24*time.Hour, "admin"); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Issuer.Issue(ctx, req); err != nil {
				t.Fatalf("200 days once another handle set 365: %v", err)
			}
			if _, err := a.Issuer.SetPolicy(ctx, 7*24*time.Hour, "admin"); err != nil {
				t.Fatal(err)
			}
			req.TTL = 8 * 24 * time.Hour
			if _, err := b.Issuer.Issue(ctx, req); !errors.Is(err, issuer.ErrRequest) {
				t.Fatalf("8 days once another handle set 7: %v", err)
			}
			if p, err := b.Issuer.Policy(ctx); err != nil || p.MaxTTL != 7*24*time.Hour {
				t.Fatalf("Policy through the other handle: %+v, %v", p, err)
			}
		})
	}
}

// TestUniqueNameRace: issuers on two handles racing to issue tokens of
// one name to one subject: exactly one wins, on both engines.
func TestUniqueNameRace(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			a, b := twoHandles(t, engine)
			const each = 8
			var wg sync.WaitGroup
			errs := make(chan error, 2*each)
			for _, db := range []*writ.DB{a, b} {
				for range each {
					wg.Add(1)
					go func() {
						defer wg.Done()
						_, err := db.Issuer.Issue(ctx, issuer.Request{Subject: "svc", Name: "deploy", Audience: []string{"api"}})
						errs <- err
					}()
				}
			}
			wg.Wait()
			close(errs)
			won := 0
			for err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, issuer.ErrNameTaken):
					t.Errorf("a loser's error: %v", err)
				}
			}
			if won != 1 {
				t.Errorf("%d issuances of one name won, want 1", won)
			}
			if recs, err := a.Issuer.List(ctx, issuer.Filter{Name: "deploy"}); err != nil || len(recs) != 1 {
				t.Errorf("tokens named deploy: %d, %v", len(recs), err)
			}
		})
	}
}
