package network

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/bosun-dev/bosun/internal/testenv"
)

// nsMountsUnder lists the namespace mounts at or under dir, from
// /proc/self/mountinfo.
func nsMountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, m := range mounts {
		paths = append(paths, m.Mountpoint+" ("+m.FSType+")")
	}
	return paths
}

// detachUnder unmounts whatever a failed test left mounted under dir, so
// that t.TempDir's removal and the machine stay clean.
func detachUnder(t *testing.T, dir string) {
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		t.Error(err)
		return
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		_ = unix.Unmount(mounts[i].Mountpoint, unix.MNT_DETACH)
	}
}

func TestRemoveNamespaces(t *testing.T) {
	testenv.E2E(t, testenv.Root())
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { detachUnder(t, base) })
	data := filepath.Join(base, "data")
	nsDir := filepath.Join(data, "agent", "network", "netns")
	// A sibling whose name starts like the data directory's: not under it.
	other := filepath.Join(base, "data-other")
	for _, d := range []string{nsDir, other} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// Namespaces made as Setup makes them, as a pod stuck before its
	// containers ran leaves them: no CNI DEL ever runs for them.
	for _, p := range []string{filepath.Join(nsDir, "pod-a"), filepath.Join(nsDir, "pod-b"), filepath.Join(other, "keep")} {
		if err := createNetNS(p); err != nil {
			t.Fatal(err)
		}
	}
	// A second mount stacked on pod-a, as two racing setups could leave.
	if err := unix.Mount("/proc/self/ns/net", filepath.Join(nsDir, "pod-a"), "none", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(nsDir, "not-mounted")
	if err := os.WriteFile(plain, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if got := nsMountsUnder(t, data); len(got) != 3 {
		t.Fatalf("before: mounts under %s = %v, want 3 namespace mounts", data, got)
	}

	// Through a symbolic link to the data directory, as --data-dir may be.
	link := filepath.Join(base, "link")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	removed, err := RemoveNamespaces(link)
	if err != nil {
		t.Fatalf("RemoveNamespaces: %v", err)
	}
	want := []string{filepath.Join(nsDir, "pod-a"), filepath.Join(nsDir, "pod-b")}
	if !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	if got := nsMountsUnder(t, data); len(got) != 0 {
		t.Errorf("after: still mounted under %s: %v", data, got)
	}
	if _, err := os.Stat(plain); err != nil {
		t.Errorf("a file that is no namespace mount was touched: %v", err)
	}
	if !isNetNS(filepath.Join(other, "keep")) {
		t.Errorf("the namespace in %s, outside the data directory, was unmounted", other)
	}
	if err := os.RemoveAll(data); err != nil {
		t.Errorf("the data directory cannot be removed: %v", err)
	}
	again, err := RemoveNamespaces(data)
	if err != nil || len(again) != 0 {
		t.Errorf("second run on a removed directory = %v, %v; want nothing to do", again, err)
	}
	if got := strings.Join(nsMountsUnder(t, other), ", "); !strings.Contains(got, "nsfs") {
		t.Errorf("mounts under %s = %q, want the kept namespace", other, got)
	}
}
