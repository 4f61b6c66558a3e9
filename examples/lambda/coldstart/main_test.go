package main

import "testing"

// TestColdStart runs the measurement once: each function is built, starts,
// and accepts the token (the golang-jwt equivalent included). It builds
// them as lambdatest.Build does for a test, reusing the packages compiled
// for it: as deployed, they would be compiled anew.
func TestColdStart(t *testing.T) {
	if err := run(1, false); err != nil {
		t.Fatal(err)
	}
}
