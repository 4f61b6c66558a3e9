//go:build !race

package lambdatest

// raceFlags: see race.go.
var raceFlags []string
