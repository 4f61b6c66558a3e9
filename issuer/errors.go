package issuer

import (
	"errors"

	"github.com/writ-dev/writ/revocation"
)

var (
	// ErrRequest reports an issuance request that breaks a rule: a missing
	// subject or audience, a malformed scope, a subject or name that is not
	// plain text (control, invisible or line-breaking characters), a
	// lifetime above the maximum, a token too large.
	ErrRequest = errors.New("invalid token request")
	// ErrTooLarge reports a request whose token would be longer than
	// verifier.MaxTokenSize, which every verifier refuses. It comes wrapped
	// with ErrRequest.
	ErrTooLarge = errors.New("token too large")
	// ErrDelegation reports a delegated request (Request.Delegator) that
	// goes beyond the grants of the token asking for it, or whose issuing
	// token is revoked; its message names the rule broken.
	ErrDelegation = errors.New("delegation")
	// ErrNameTaken reports a request for a token whose name another live
	// token of the same subject bears (see Request.Name). It does not wrap
	// ErrRequest: the request is good, the name is not free.
	ErrNameTaken = errors.New("name taken")
	// ErrUnknownToken is returned for a jti that was never issued here. It
	// is revocation.ErrUnknownToken: one idea, one value.
	ErrUnknownToken = revocation.ErrUnknownToken
	// ErrUnknownResourceType is returned for a resource type that the
	// permission catalogue does not declare.
	ErrUnknownResourceType = errors.New("unknown resource type")
	// ErrClockSkew reports an issuance that the ledger refused because
	// the token's issuance time is more than MaxClockSkew behind the
	// database's clock: this host's clock runs behind, or the issuance
	// took that long to commit. The token is not recorded, nor returned.
	ErrClockSkew = errors.New("clock skew")
	// ErrUsagePartlyRecorded reports a batch of uses that RecordUsage
	// recorded only in part: the parts before the one that failed are
	// recorded (see UsageReport.Failed). Recording the batch again would
	// count them twice.
	ErrUsagePartlyRecorded = errors.New("usage recorded in part")
)

// errKeyWithdrawn is the outcome of a record whose token was signed by a
// key that may no longer sign: compromised, or removed, since it was read.
var errKeyWithdrawn = errors.New("issuer: the signing key was withdrawn")

// errKeyStale is the outcome of a record whose token was signed by a key
// from the cache of signers that is no longer the active key: it is signed
// again with the key read from the store.
var errKeyStale = errors.New("issuer: the cached signing key is no longer active")
