package verifier

import (
	"testing"

	"github.com/writ-dev/writ/internal/usage"
)

// TestOutcomesAreTheWireFormats: the outcomes are those of the report's
// wire format, letter for letter.
func TestOutcomesAreTheWireFormats(t *testing.T) {
	for got, want := range map[string]string{
		OutcomeAccepted: usage.Accepted, OutcomeExpired: usage.Expired, OutcomeNotYetValid: usage.NotYetValid,
		OutcomeIssuer: usage.Issuer, OutcomeAudience: usage.Audience, OutcomeClientIP: usage.ClientIP,
		OutcomeRevoked: usage.Revoked, OutcomeUnavailable: usage.Unavailable, OutcomeScope: usage.Scope,
		OutcomePermission: usage.Permission,
	} {
		if got != want || !usage.IsOutcome(got) {
			t.Errorf("outcome %q, wire format %q", got, want)
		}
	}
}
