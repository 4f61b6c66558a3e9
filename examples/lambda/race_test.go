//go:build race

package main

// buildFlags are the flags of the function that TestLambdaRuntime builds:
// the test's own, so that it reuses the packages compiled for the test,
// and finds data races in the function too.
var buildFlags = []string{"-race"}
