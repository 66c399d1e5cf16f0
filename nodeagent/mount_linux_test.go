package nodeagent_test

import (
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// cleanupMounts unmounts, at the end of the test, whatever is still
// mounted under dir (a failed test must not leave tmpfs mounts behind).
func cleanupMounts(t *testing.T, dir string) {
	t.Cleanup(func() {
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			return
		}
		var mps []string
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
				mps = append(mps, f[4])
			}
		}
		sort.Slice(mps, func(i, j int) bool { return len(mps[i]) > len(mps[j]) })
		for _, mp := range mps {
			if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", mp, err)
			}
		}
	})
}
