//go:build race

package lambdatest

// raceFlags are the go build flags that make a binary like the running
// program: built with -race.
var raceFlags = []string{"-race"}
