package interop

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/keys"
	"github.com/writ-dev/writ/revocation"
	"github.com/writ-dev/writ/verifier"
)

// TestJoseRemoteJWKSet has jose's createRemoteJWKSet fetch the key set from
// a running writ server on loopback and verify tokens signed before and
// after a key rotation, as an API gateway following writ would.
func TestJoseRemoteJWKSet(t *testing.T) {
	node := setupNode(t)
	w := newWrit(t, verifier.EdDSA)
	list, err := revocation.NewList(revocation.Config{Store: w.db, MaxTTL: w.issuer.MaxTTL()})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(t.Context(), server.Config{Issuer: issuerURL, Ping: w.db.Ping, Ring: w.ring, Tokens: w.issuer,
		Revocations: list, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	before := w.issue(t, issuer.Request{Subject: "alice", Audience: []string{audience}, Scopes: []string{"read"}})
	if _, err := w.ring.Rotate(t.Context(), keys.JWT, keys.RotateOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	after := w.issue(t, issuer.Request{Subject: "bob", Audience: []string{audience}})
	if before.KeyID == after.KeyID {
		t.Fatal("the rotation did not change the signing key")
	}
	// No reload is needed: the key that signs after the rotation was
	// published as the next key before the server started.
	out := node.mustRun(t, "verify-jwt.mjs", "--jwks-url", ts.URL+"/.well-known/jwks.json",
		"--issuer", issuerURL, "--audience", audience, "--alg", string(verifier.EdDSA), before.Token, after.Token)
	var got []struct {
		Header  struct{ Kid string }
		Payload struct{ Sub, Jti string }
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node output %s: %v", out, err)
	}
	if len(got) != 2 || got[0].Payload.Jti != before.ID || got[0].Header.Kid != before.KeyID ||
		got[1].Payload.Jti != after.ID || got[1].Header.Kid != after.KeyID {
		t.Errorf("jose verified %+v", got)
	}
}
