package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Host is how the checks see the machine. RealHost returns the running
// machine's; tests fill in a fake tree and functions.
type Host struct {
	// Root is where absolute paths (/proc, /sys, /lib/modules, /usr/lib/cni)
	// are read from: "/" on the real machine.
	Root string
	// LookPath finds a program in $PATH, as exec.LookPath.
	LookPath func(name string) (string, error)
	// Output runs a program and returns its standard output and error.
	Output func(ctx context.Context, name string, args ...string) (string, error)
	// Listen reports whether a TCP address can be listened on now (nil)
	// or why not.
	Listen func(addr string) error
	// Euid is the effective user ID of the process.
	Euid func() int
	// FreeBytes returns the space available to unprivileged users on the
	// filesystem holding path.
	FreeBytes func(path string) (uint64, error)
}

// RealHost returns the Host of the running machine.
func RealHost() Host {
	return Host{
		Root:      "/",
		LookPath:  exec.LookPath,
		Output:    output,
		Listen:    listen,
		Euid:      os.Geteuid,
		FreeBytes: freeBytes,
	}
}

// path is p under the host's root.
func (h Host) path(p string) string { return filepath.Join(h.Root, p) }

// read returns the trimmed content of p under the root.
func (h Host) read(p string) (string, error) {
	b, err := os.ReadFile(h.path(p))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// exists reports whether p exists under the root.
func (h Host) exists(p string) bool {
	_, err := os.Stat(h.path(p))
	return err == nil
}

// output runs a program with a deadline and returns its combined output.
func output(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	b, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(b), fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return string(b), nil
}

// listen binds addr and releases it at once.
func listen(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}

// errNoStatfs is FreeBytes' error where the OS has no statfs.
var errNoStatfs = errors.New("free space is not known on this OS")
