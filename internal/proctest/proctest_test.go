package proctest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/internal/proctest"
	"github.com/bosun-dev/bosun/internal/testutil"
)

func TestFindAndAlive(t *testing.T) {
	if runtime.GOOS != "linux" {
		// Not an end-to-end gate: only Linux has /proc, and bosun's tests
		// that use proctest run on Linux (CI included), where this never skips.
		t.Skip("proctest reads /proc")
	}
	// A copy of sleep under a name no other process has.
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skipf("no sleep to run: %v", err)
	}
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "proctest-sleep")
	if err := os.WriteFile(marker, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(marker, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid

	got := proctest.Find(func(args []string) bool { return slices.Contains(args, marker) })
	if !slices.Equal(got, []int{pid}) {
		t.Errorf("Find = %v, want [%d]", got, pid)
	}
	var args []string
	proctest.Find(func(a []string) bool {
		if slices.Contains(a, marker) {
			args = a
		}
		return false
	})
	if !slices.Equal(args, []string{marker, "60"}) {
		t.Errorf("command line %q, want %s 60", args, marker)
	}
	if !proctest.Alive(pid) || !proctest.Alive(os.Getpid()) {
		t.Errorf("Alive(%d) or Alive(self) = false while running", pid)
	}

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// Killed but not reaped: a zombie, which counts as gone.
	testutil.EventuallyTrue(t, 10*time.Second, "the killed, unreaped process to be dead", func() bool { return !proctest.Alive(pid) })
	_ = cmd.Wait()
	if proctest.Alive(pid) {
		t.Errorf("Alive(%d) after the process ended", pid)
	}
	if got := proctest.Find(func(args []string) bool { return slices.Contains(args, marker) }); len(got) != 0 {
		t.Errorf("Find after the process ended = %v", got)
	}
}
