package lambdatest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Build builds the main package in dir into out. files replace the
// package's own by name relative to dir (the embedded keys), through go
// build -overlay, so that the source tree is never written. It needs the
// go command.
//
// With deploy set it builds as Lambda's provided.al2023 runtime runs a
// function: for linux/amd64, stripped (-ldflags='-s -w' -trimpath),
// without the RPC mode of the retired go1.x runtime (-tags lambda.norpc).
// Without, it builds for this machine as the running program was built
// (with -race, or without), so that a test reuses the packages compiled
// for it, and a test run with -race checks the function for data races.
func Build(ctx context.Context, dir, out string, files map[string][]byte, deploy bool) error {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("building needs the go command: %w", err)
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "lambda-overlay-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	overlay := map[string]map[string]string{"Replace": {}}
	i := 0
	for name, data := range files {
		i++
		p := filepath.Join(tmp, fmt.Sprintf("%d-%s", i, filepath.Base(name)))
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return err
		}
		overlay["Replace"][filepath.Join(dir, name)] = p
	}
	ov, err := json.Marshal(overlay)
	if err != nil {
		return err
	}
	ovPath := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(ovPath, ov, 0o600); err != nil {
		return err
	}
	args := []string{"build", "-overlay", ovPath, "-o", out}
	env := os.Environ()
	if deploy {
		args = append(args, "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w")
		env = append(env, "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	} else {
		args = append(args, raceFlags...)
	}
	cmd := exec.CommandContext(ctx, gocmd, append(args, ".")...)
	cmd.Dir = dir
	cmd.Env = env
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", dir, err, b)
	}
	return nil
}
