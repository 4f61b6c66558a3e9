package verifier

import (
	"errors"
	"net/netip"
	"time"
)

// Outcomes of a use, the Outcome of a [Use]: accepted, or why the token
// was refused. They are the strings of writ's usage reports
// (POST /v1/usage, the member "outcome").
const (
	// OutcomeAccepted: Verify accepted the token.
	OutcomeAccepted = "accepted"
	// OutcomeExpired: Verify refused it with ErrExpired.
	OutcomeExpired = "expired"
	// OutcomeNotYetValid: Verify refused it with ErrNotYetValid.
	OutcomeNotYetValid = "not_yet_valid"
	// OutcomeIssuer: Verify refused it with ErrIssuer.
	OutcomeIssuer = "issuer"
	// OutcomeAudience: Verify refused it with ErrAudience.
	OutcomeAudience = "audience"
	// OutcomeClientIP: Verify refused it with ErrClientIP.
	OutcomeClientIP = "ip"
	// OutcomeRevoked: Verify refused it with ErrRevoked.
	OutcomeRevoked = "revoked"
	// OutcomeUnavailable: Verify refused it because the revocation checker
	// could not tell (an error other than ErrRevoked).
	OutcomeUnavailable = "unavailable"
	// OutcomeScope: the token verified (an accepted use was recorded)
	// and the caller then refused it for lacking a scope (ErrScope).
	OutcomeScope = "scope"
	// OutcomePermission: the token verified (an accepted use was
	// recorded) and the caller then refused it for lacking a permission
	// (ErrPermission).
	OutcomePermission = "permission"
)

// Use is one presentation of a token to a verifier, as a [UsageRecorder]
// receives it.
type Use struct {
	// JTI is the token's jti, from claims whose signature verified.
	JTI string
	// At is the verifier's clock (Config.Now) when it decided.
	At time.Time
	// Client is the address given to VerifyFrom: the zero Addr for Verify.
	Client netip.Addr
	// Outcome is one of the Outcome constants.
	Outcome string
}

// UsageRecorder receives the uses of tokens, to report them (package
// verifier/usage sends them to writ serve) or count them.
//
// # What is recorded
//
// Verify and VerifyFrom call RecordUse exactly once for each token whose
// signature verified and whose claims parsed, whether from the token cache
// or not: with OutcomeAccepted when they return claims, else with the
// outcome of their error (OutcomeExpired, OutcomeNotYetValid,
// OutcomeIssuer, OutcomeAudience, OutcomeClientIP, OutcomeRevoked,
// OutcomeUnavailable). A token refused before its signature verified (too
// large, malformed, wrong type or algorithm, unknown key, bad signature,
// or claims that do not parse) is never recorded: its jti could be
// anyone's.
//
// An authorization refusal after Verify, which Verify cannot see, is
// recorded by whoever refuses, with [Verifier.RecordRefusal]: package
// bearer does so. Such a request is recorded twice: OutcomeAccepted by
// Verify, then OutcomeScope or OutcomePermission. A summary of uses
// counts the first and counts the second as a refusal only.
//
// RecordUse is called on Verify's path, from many goroutines at once: it
// must be safe for concurrent use, must never block (no I/O, no waiting
// for a lock held across I/O) and should not allocate. It must not keep
// u.JTI beyond the call without copying it: the string shares the
// memory of the token's decoded claims.
type UsageRecorder interface {
	RecordUse(u Use)
}

// record reports the use of the verified token c at now by client to
// Config.Usage, if set, with the outcome of err, Verify's answer.
func (v *Verifier) record(c *Claims, now time.Time, client netip.Addr, err error) {
	if v.usage == nil {
		return
	}
	v.usage.RecordUse(Use{JTI: c.ID, At: now, Client: client, Outcome: outcome(err)})
}

// outcome is the Outcome of a use that Verify answered with err, which is
// nil or an error of a verified token's claims, client or revocation.
func outcome(err error) string {
	switch {
	case err == nil:
		return OutcomeAccepted
	case errors.Is(err, ErrRevoked):
		return OutcomeRevoked
	case errors.Is(err, ErrExpired):
		return OutcomeExpired
	case errors.Is(err, ErrNotYetValid):
		return OutcomeNotYetValid
	case errors.Is(err, ErrAudience):
		return OutcomeAudience
	case errors.Is(err, ErrIssuer):
		return OutcomeIssuer
	case errors.Is(err, ErrClientIP):
		return OutcomeClientIP
	}
	return OutcomeUnavailable
}

// RecordsUsage reports whether v has a UsageRecorder (Config.Usage), so
// that callers skip work for RecordRefusal when it has none.
func (v *Verifier) RecordsUsage() bool { return v.usage != nil }

// RecordRefusal records, through Config.Usage (nothing when it is unset),
// that the caller refused the token of c, which v verified for a client at
// client, with err from c.RequireScopes or c.RequirePermission: as
// OutcomeScope for an error wrapping ErrScope, OutcomePermission for one
// wrapping ErrPermission. It records nothing for a nil error or any other.
// Call it once per refused request; package bearer does.
func (v *Verifier) RecordRefusal(c *Claims, client netip.Addr, err error) {
	if v.usage == nil || err == nil {
		return
	}
	var o string
	switch {
	case errors.Is(err, ErrPermission):
		o = OutcomePermission
	case errors.Is(err, ErrScope):
		o = OutcomeScope
	default:
		return
	}
	v.usage.RecordUse(Use{JTI: c.ID, At: v.now(), Client: client, Outcome: o})
}
