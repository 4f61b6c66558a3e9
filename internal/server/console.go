package server

import (
	"context"
	"fmt"
	"net/http"

	"github.com/writ-dev/writ/internal/console"
	"github.com/writ-dev/writ/issuer"
	"github.com/writ-dev/writ/verifier"
	"github.com/writ-dev/writ/verifier/bearer"
)

// newConsole returns the web console over the server's parts, or nil when
// the configuration has no sessions to keep (Config.Sessions).
func (s *Server) newConsole() (*console.Console, error) {
	if s.cfg.Sessions == nil {
		return nil, nil
	}
	return console.New(console.Config{
		Issuer: s.cfg.Issuer, Tokens: s.cfg.Tokens, Ring: s.cfg.Ring, Revocations: s.cfg.Revocations,
		Audit: s.cfg.Audit, Sessions: s.cfg.Sessions, Log: s.log,
		Verify:      s.consoleVerify,
		Check:       s.consoleCheck,
		Issued:      func(t *issuer.Token) { s.metrics.issued.WithLabelValues(string(t.Format)).Inc() },
		Revoked:     s.revoked,
		KeysChanged: s.keysChanged,
	})
}

// consoleVerify verifies a token presented to the console's sign-in as
// the admin API verifies its bearer tokens: for the issuer's own
// audience, from the client address (through the trusted proxies).
func (s *Server) consoleVerify(r *http.Request, token string) (*verifier.Claims, error) {
	client, err := bearer.ClientAddr(r, s.cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", verifier.ErrClientIP, err)
	}
	return s.verify.VerifyFrom(r.Context(), token, client)
}

// consoleCheck checks the token of a console session again: its key is
// still in the key set, the revocation snapshot (which the server keeps
// current, and refreshes at once after its own revocations) does not
// revoke it, and the request comes from inside its networks.
func (s *Server) consoleCheck(r *http.Request, c *verifier.Claims) error {
	if _, err := s.keys.LookupKey(r.Context(), c.KeyID); err != nil {
		return err
	}
	if err := s.snap.CheckRevocation(r.Context(), c); err != nil {
		return err
	}
	if len(c.AllowedIPs) > 0 {
		client, err := bearer.ClientAddr(r, s.cfg.TrustedProxies)
		if err != nil || !c.AllowsAddr(client) {
			return verifier.ErrClientIP
		}
	}
	return nil
}

// revoked counts a revocation the console made, of kind ("token" or
// "key"), and has the snapshot read it at once.
func (s *Server) revoked(ctx context.Context, kind string) {
	s.metrics.revocations.WithLabelValues(kind).Inc()
	if err := s.snap.Refresh(ctx); err != nil {
		s.log.Error("revocation refresh failed", "err", err)
	}
}

// keysChanged rereads the keys after the console rotated or compromised
// one.
func (s *Server) keysChanged(ctx context.Context) {
	if err := s.reloadKeys(ctx); err != nil {
		s.log.Error("key reload failed", "err", err)
	}
}
