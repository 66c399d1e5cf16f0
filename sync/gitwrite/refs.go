package gitwrite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// refLockWait is how long setRef waits for another process's lock on a
// ref (git itself waits 100 ms by default, core.filesRefLockTimeout).
const refLockWait = time.Second

// setRef points ref at its new hash the way git does: it creates
// "<ref>.lock" exclusively, checks under that lock that the ref still has
// the value old (or does not exist, when old is nil), writes the new value
// into the lock file and renames it over the ref. A reader (git, or bosun's
// own sync loop) therefore sees the old file or the new one, never an empty
// or half-written ref, and a concurrent "git commit" or "git push" into the
// same repository, which takes the same lock, is refused or refuses us
// instead of being lost.
//
// go-git's CheckAndSetReference truncates and rewrites the ref file in
// place under flock, which git does not take: a "git log" running at that
// moment reads an empty file and reports a broken ref.
//
// Repositories not kept on a filesystem fall back to go-git's own update.
func setRef(st storage.Storer, ref, old *plumbing.Reference) error {
	fsStore, ok := st.(*filesystem.Storage)
	if !ok {
		return st.CheckAndSetReference(ref, old)
	}
	dir := fsStore.Filesystem()
	name := ref.Name().String()
	lockName := name + ".lock"

	var lock interface {
		Write([]byte) (int, error)
		Close() error
	}
	deadline := time.Now().Add(refLockWait)
	for {
		f, err := dir.OpenFile(lockName, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
		if err == nil {
			lock = f
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("lock %s: %w", name, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lock %s: %s exists: another git process is updating the branch (remove the file if no git process is running): %w",
				name, dir.Join(dir.Root(), lockName), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	unlock := func() { _ = dir.Remove(lockName) }

	cur, err := st.Reference(ref.Name())
	switch {
	case errors.Is(err, plumbing.ErrReferenceNotFound):
		if old != nil {
			_ = lock.Close()
			unlock()
			return storage.ErrReferenceHasChanged
		}
	case err != nil:
		_ = lock.Close()
		unlock()
		return fmt.Errorf("read %s: %w", name, err)
	case old == nil || cur.Hash() != old.Hash():
		_ = lock.Close()
		unlock()
		return storage.ErrReferenceHasChanged
	}

	if _, err := lock.Write([]byte(ref.Hash().String() + "\n")); err != nil {
		_ = lock.Close()
		unlock()
		return fmt.Errorf("write %s: %w", lockName, err)
	}
	if err := lock.Close(); err != nil {
		unlock()
		return fmt.Errorf("write %s: %w", lockName, err)
	}
	if err := dir.Rename(lockName, name); err != nil {
		unlock()
		return fmt.Errorf("update %s: %w", name, err)
	}
	return nil
}
