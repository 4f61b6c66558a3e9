//go:build !race

package main

// buildFlags are the flags of the function that TestLambdaRuntime builds:
// see race_test.go.
var buildFlags []string
