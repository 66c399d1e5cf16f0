package cleanup_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/nodeagent/cleanup"
)

// mountsUnder lists every mount at or under dir from /proc/self/mountinfo.
func mountsUnder(t *testing.T, dir string) []*mountinfo.Info {
	t.Helper()
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		t.Fatal(err)
	}
	return mounts
}

// TestNodeRemovesNamespaces leaves pods' network namespace files mounted
// under the data directory, as a pod that never started leaves them (no
// sandbox to stop, no CNI DEL), and checks that cleanup leaves no mount
// there and the directory can be removed.
func TestNodeRemovesNamespaces(t *testing.T) {
	testenv.E2E(t, testenv.Root(), testenv.Binary("unshare"))
	tests := []struct {
		name       string
		containerd bool // DataDir/containerd exists, and its containerd cannot start
		wantErr    bool
	}{
		{name: "no containerd of the agent's"},
		{name: "containerd that cannot start", containerd: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, err := filepath.EvalSymlinks(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { // a failed run must not leave mounts behind
				mounts, _ := mountinfo.GetMounts(mountinfo.PrefixFilter(base))
				for i := len(mounts) - 1; i >= 0; i-- {
					_ = unix.Unmount(mounts[i].Mountpoint, unix.MNT_DETACH)
				}
			})
			data := filepath.Join(base, "data")
			nsDir := filepath.Join(data, "agent", "network", "netns")
			if err := os.MkdirAll(nsDir, 0o700); err != nil {
				t.Fatal(err)
			}
			if tt.containerd {
				if err := os.MkdirAll(filepath.Join(data, "containerd"), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			for _, id := range []string{"0123456789abcdef", "fedcba9876543210"} {
				// A new network namespace bind-mounted onto a file, as the
				// agent's network setup pins a pod's.
				path := filepath.Join(nsDir, id)
				if err := os.WriteFile(path, nil, 0o444); err != nil {
					t.Fatal(err)
				}
				if out, err := exec.Command("unshare", "--net="+path, "true").CombinedOutput(); err != nil {
					t.Fatalf("unshare --net=%s: %v: %s", path, err, out)
				}
			}
			if n := len(mountsUnder(t, data)); n != 2 {
				t.Fatalf("before cleanup: %d mounts under %s, want 2", n, data)
			}
			err = cleanup.Node(t.Context(), cleanup.Config{
				DataDir:          data,
				ContainerdBinary: filepath.Join(base, "no-containerd"),
				IPTables:         &fakeIPTables{restored: map[string]string{}},
				Routes:           func() (int, error) { return 0, nil },
				Bridge:           "bosun-none0",
			})
			if (err != nil) != tt.wantErr {
				t.Errorf("cleanup.Node: %v, want error %v", err, tt.wantErr)
			}
			for _, m := range mountsUnder(t, data) {
				t.Errorf("still mounted after cleanup: %s (%s)", m.Mountpoint, m.FSType)
			}
			if err := os.RemoveAll(data); err != nil {
				t.Errorf("the data directory cannot be removed after cleanup: %v", err)
			}
		})
	}
}
