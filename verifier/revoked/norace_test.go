//go:build !race

package revoked_test

// raceEnabled: the race detector slows the property test tenfold.
const raceEnabled = false
