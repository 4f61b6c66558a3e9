// Package pgtest starts throwaway PostgreSQL clusters for tests: initdb in
// a temporary directory, the server on a free loopback port with its unix
// socket in that directory, stopped when the test ends.
//
// PostgreSQL refuses to run as root: a root process runs initdb and the
// server as the unprivileged user "postgres" (which Debian's package
// creates). Without PostgreSQL the tests that need it are skipped, or fail
// when WRIT_REQUIRE_POSTGRES=1 is set (as .ci/run does).
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a running throwaway PostgreSQL cluster.
type Cluster struct {
	dir  string // its files: data, log, socket, owner
	port int
	run  func(name string, args ...string) error // runs a PostgreSQL program as the cluster's user
	n    atomic.Int64                            // databases made
}

// Start starts a cluster for the test t and returns the URL of a new,
// empty database in it. The cluster stops when t ends.
func Start(t testing.TB) string {
	return StartCluster(t).NewDatabase(t)
}

// StartCluster starts a cluster for the test t, stopped when t ends.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := Launch()
	var missing *notInstalledError
	switch {
	case errors.As(err, &missing) && os.Getenv("WRIT_REQUIRE_POSTGRES") == "1":
		t.Fatalf("PostgreSQL is required (WRIT_REQUIRE_POSTGRES=1): %v", err)
	case errors.As(err, &missing):
		t.Skipf("PostgreSQL not installed (%v): apt-get install postgresql; .ci/run installs it", err)
	case err != nil:
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// notInstalledError: no PostgreSQL server binaries were found.
type notInstalledError struct{ err error }

func (e *notInstalledError) Error() string { return e.err.Error() }

// Launch starts a cluster for a program that is not a test (a benchmark
// script); Stop stops it and removes its files.
func Launch() (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, &notInstalledError{err}
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	stopStale(bin, cred)
	dir, err := os.MkdirTemp("", "writ-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir}
	c.run = func(name string, args ...string) error {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		if cred != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v\n%s", name, err, out)
		}
		return nil
	}
	if err := c.launch(cred); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

func (c *Cluster) launch(cred *syscall.Credential) error {
	// Which process owns the cluster: a cluster whose owner died without
	// stopping it (a test binary killed at its timeout) is stopped by the
	// next Launch.
	if err := os.WriteFile(filepath.Join(c.dir, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	if cred != nil {
		if err := os.Chown(c.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	data := filepath.Join(c.dir, "data")
	if err := c.run("initdb", "-D", data, "-U", "writ", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		err = c.run("pg_ctl", "-D", data, "-w", "-t", "60", "-l", filepath.Join(c.dir, "log"), "start",
			"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200", port, c.dir))
		if err == nil {
			c.port = port
			return nil
		}
		if attempt == 2 {
			log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
			return fmt.Errorf("%v\n%s", err, log)
		}
	}
}

// Stop stops the cluster at once and removes its files.
func (c *Cluster) Stop() error {
	err := c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-w", "-m", "immediate", "stop")
	return errors.Join(err, os.RemoveAll(c.dir))
}

// URL returns the URL of the database name in the cluster.
func (c *Cluster) URL(name string) string {
	return fmt.Sprintf("postgres://writ@127.0.0.1:%d/%s?sslmode=disable", c.port, name)
}

// NewDatabase creates a new, empty database in the cluster and returns its
// URL.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	url, err := c.CreateDatabase()
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// CreateDatabase creates a new, empty database in the cluster and returns
// its URL.
func (c *Cluster) CreateDatabase() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("writ_%d", c.n.Add(1))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	return c.URL(name), nil
}

// stopStale stops the clusters left in the temporary directory by test
// processes that are gone, and removes their directories.
func stopStale(bin string, cred *syscall.Credential) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "writ-pg-*"))
	for _, dir := range dirs {
		owner, err := os.ReadFile(filepath.Join(dir, "owner"))
		if err != nil {
			continue // being made, or not one of these
		}
		pid, err := strconv.Atoi(string(owner))
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) == nil || errors.Is(syscall.Kill(pid, 0), syscall.EPERM) {
			continue // its owner is alive
		}
		cmd := exec.Command(filepath.Join(bin, "pg_ctl"), "-D", filepath.Join(dir, "data"), "-w", "-m", "immediate", "stop")
		if cred != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		cmd.Run() // not running is fine too
		os.RemoveAll(dir)
	}
}

// binDir finds the directory of initdb and pg_ctl: PATH, else the newest
// /usr/lib/postgresql/*/bin.
func binDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if p, err := filepath.EvalSymlinks(p); err == nil {
			if _, err := os.Stat(filepath.Join(filepath.Dir(p), "pg_ctl")); err == nil {
				return filepath.Dir(p), nil
			}
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("initdb not found")
}

func version(bin string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(bin)))
	return n
}

// credential returns the user to run PostgreSQL as: nil for this process's
// own, or "postgres" when this process is root.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL needs an unprivileged user: %w (apt-get install postgresql creates one)", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// freePort returns a loopback TCP port that nothing listens on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
