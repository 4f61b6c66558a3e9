package revocation

import "github.com/writ-dev/writ/verifier/revoked"

// The List is the Feed of a local database, for a revoked.Snapshot beside
// it; writ serve publishes its changes as the signed revocation feed.
var _ revoked.Feed = (*List)(nil)
