package revocation

import (
	"github.com/writ-dev/writ/internal/feed"
	"github.com/writ-dev/writ/verifier/revoked"
)

// RevokedToken is a token entry of the list's changes.
//
// Deprecated: it is revoked.RevokedToken, the name to use. It stays while
// the List's own code names it so.
type RevokedToken = revoked.RevokedToken

// TokenIDOf returns the TokenID of jti.
//
// Deprecated: use revoked.TokenIDOf. It stays while the List's own code
// names it so.
func TokenIDOf(jti string) revoked.TokenID { return revoked.TokenIDOf(jti) }

// maxTime32 is the latest time a token entry holds (feed.MaxTime32).
const maxTime32 = feed.MaxTime32
