package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// Start runs a server process and returns it with the address it
// announced on stderr ("… on ADDR …"); from then on its stderr goes to
// this process's. It exits the program if the server does not start.
func Start(name string, args ...string) (*exec.Cmd, string) {
	cmd := exec.Command(name, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		log.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		_, rest, ok := strings.Cut(sc.Text(), " on ")
		if !ok {
			continue
		}
		addr, _, _ := strings.Cut(rest, " ")
		go io.Copy(os.Stderr, stderr) // warnings and errors from now on
		return cmd, addr
	}
	log.Fatalf("%s exited before it listened: %v", name, errors.Join(sc.Err(), cmd.Wait()))
	return nil, ""
}

// Stop interrupts a server that Start started and waits for it.
func Stop(cmd *exec.Cmd) {
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
}

// Command runs a program to its end and returns its stdout, exiting the
// program if it fails.
func Command(name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		log.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out)
}

// RoundTrip makes one request and checks its status (and body length,
// when wantLen is not negative), reading the body whole so that the
// connection is reused; with out, it returns the body.
func RoundTrip(ctx context.Context, c *http.Client, method, url, auth string, body []byte, want, wantLen int, out *[]byte) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	var n int64
	if out != nil {
		*out, err = io.ReadAll(resp.Body)
		n = int64(len(*out))
	} else {
		n, err = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	switch {
	case err != nil:
		return err
	case resp.StatusCode != want:
		return fmt.Errorf("%s %s: status %d", method, url, resp.StatusCode)
	case wantLen >= 0 && n != int64(wantLen):
		return fmt.Errorf("%s %s: %d bytes, want %d", method, url, n, wantLen)
	}
	return nil
}

// Median returns the median over rs of f.
func Median(rs []Result, f func(Result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// Millis formats nanoseconds as milliseconds.
func Millis(ns float64) string { return fmt.Sprintf("%.2f ms", ns/1e6) }
