package network

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// createNetNS creates a new network namespace and pins it by bind-mounting
// it onto a new file at path, as CRI does. The namespace is made on a
// fresh, locked OS thread that is never unlocked, so the thread (now in the
// pod's namespace) ends with its goroutine and never runs other code.
func createNetNS(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("creating netns file: %w", err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("creating netns file: %w", err)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread exits with this goroutine.
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare network namespace: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind-mounting network namespace onto %s: %w", path, err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		_ = os.Remove(path)
		return err
	}
	return nil
}

// isNetNS reports whether path is a mounted namespace file.
func isNetNS(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// removeNetNS unmounts (lazily) and removes a namespace file; a file that
// is not mounted or already gone is fine.
func removeNetNS(path string) error {
	for i := 0; i < 8 && isNetNS(path); i++ { // stacked mounts: unmount each
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("unmounting netns %s: %w", path, err)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing netns file: %w", err)
	}
	return nil
}

// removeNetNSUnder unmounts every namespace file mounted at or under dir
// (stacked mounts included) and removes the files; it returns their paths.
func removeNetNSUnder(dir string) ([]string, error) {
	mounts, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return m.FSType != "nsfs" || !strings.HasPrefix(m.Mountpoint+"/", dir+"/"), false
	})
	if err != nil {
		return nil, fmt.Errorf("reading the mount table: %w", err)
	}
	var errs []error
	// Later entries are mounted on top of earlier ones: unmount them first,
	// then remove each file once.
	var paths []string
	for i := len(mounts) - 1; i >= 0; i-- {
		path := mounts[i].Mountpoint
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting netns %s: %w", path, err))
		}
		if !slices.Contains(paths, path) {
			paths = append(paths, path)
		}
	}
	var removed []string
	for _, path := range paths {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing netns file %s: %w", path, err))
			continue
		}
		removed = append(removed, path)
	}
	slices.Sort(removed)
	return removed, errors.Join(errs...)
}
