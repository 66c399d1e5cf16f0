package install

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is a process found in /proc.
type Process struct {
	PID  int
	Args []string
}

// String is the PID and command line.
func (p Process) String() string { return strconv.Itoa(p.PID) + " " + strings.Join(p.Args, " ") }

// ProcessesUsing lists the processes (other than this one) in procDir
// ("/proc") whose program or an argument is dir or under it: bosun's
// containerd (--config DIR/containerd/...) and its shims (-address
// DIR/containerd/containerd.sock), or a bosun started with --data-dir DIR.
func ProcessesUsing(procDir, dir string) ([]Process, error) {
	entries, err := os.ReadDir(procDir)
	if err != nil {
		return nil, fmt.Errorf("install: processes: %w", err)
	}
	dir = filepath.Clean(dir)
	var out []Process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procDir, e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue // gone, or a kernel thread
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if mentions(args, dir) {
			out = append(out, Process{PID: pid, Args: args})
		}
	}
	return out, nil
}

// mentions reports whether an argument is dir, under dir, or a flag=value
// of such a path.
func mentions(args []string, dir string) bool {
	for _, a := range args {
		if i := strings.IndexByte(a, '='); i >= 0 && strings.HasPrefix(a, "-") {
			a = a[i+1:]
		}
		if a == dir || strings.HasPrefix(a, dir+"/") {
			return true
		}
	}
	return false
}

// StopProcesses sends SIGTERM to every process using dir (see
// ProcessesUsing), and SIGKILL to those still there after grace.
func StopProcesses(ctx context.Context, dir string, grace time.Duration) error {
	procs, err := ProcessesUsing("/proc", dir)
	if err != nil || len(procs) == 0 {
		return err
	}
	for _, p := range procs {
		_ = syscall.Kill(p.PID, syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	for {
		procs, err = ProcessesUsing("/proc", dir)
		if err != nil || len(procs) == 0 {
			return err
		}
		if time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	var errs []error
	for _, p := range procs {
		if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("install: kill %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}
