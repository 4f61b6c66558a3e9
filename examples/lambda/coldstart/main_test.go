package main

import "testing"

// TestColdStart runs the measurement once: each function is built, starts,
// and accepts the token (the golang-jwt equivalent included).
func TestColdStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three functions")
	}
	if err := run(1); err != nil {
		t.Fatal(err)
	}
}
