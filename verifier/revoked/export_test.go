package revoked

// Backoff is backoff, for the tests of the background loop's pauses.
var Backoff = backoff
