// Command hello is the least Go program that answers: it prints a
// greeting and exits. examples/lambda/coldstart starts it beside the
// verifying programs to measure what starting any Go process costs on the
// machine that runs the measurement, so that what the others add to it
// can be told apart.
//
// Beside the greeting it reports on stderr, for coldstart, the wall-clock
// time at which main began and how long after that the greeting was
// written: "main=UNIXNANO answered=NANOSECONDS".
package main

import (
	"fmt"
	"os"
	"time"
)

func main() {
	start := time.Now()
	fmt.Println("hello, world")
	fmt.Fprintf(os.Stderr, "main=%d answered=%d\n", start.UnixNano(), time.Since(start).Nanoseconds())
}
