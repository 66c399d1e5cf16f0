package testutil

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// BosunPackage is the import path of the bosun command.
const BosunPackage = "github.com/bosun-dev/bosun/cmd/bosun"

// RunWithBosun is the TestMain of a package testing the bosun binary:
// it builds the binary (BuildBosun), stores its path in *bin, runs the
// tests and removes the binary; it returns the exit code for os.Exit. A
// failed build is printed with prefix and fails the run.
func RunWithBosun(m *testing.M, prefix string, bin *string) int {
	path, cleanup, err := BuildBosun()
	if err != nil {
		fmt.Fprintln(os.Stderr, prefix+":", err)
		return 1
	}
	defer cleanup()
	*bin = path
	return m.Run()
}

// BuildBosun builds the bosun binary into a new temporary directory, for a
// TestMain (which has no testing.TB), with the go command's output on
// stderr. cleanup removes the directory.
func BuildBosun() (bin string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "bosun-bin-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	bin = filepath.Join(dir, "bosun")
	build := exec.Command("go", "build", "-o", bin, BosunPackage)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("building bosun: %w", err)
	}
	return bin, cleanup, nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeAddr returns "127.0.0.1:PORT" with a TCP port that was free a moment
// ago (an address that must be known before the process that binds it
// starts, such as a joining etcd member's peer URL).
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(tb)))
}

// EnvInt returns the positive integer in environment variable name, or def
// when it is unset or not one (the sizes of scale runs and benchmarks).
func EnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
