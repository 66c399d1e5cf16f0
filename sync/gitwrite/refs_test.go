package gitwrite

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/internal/gittest"
)

// refInode returns the inode of a loose ref file.
func refInode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// looseRef makes sure branch has a loose ref file in the bare repository
// (a fresh clone keeps its branches in packed-refs) and returns its path.
func looseRef(t *testing.T, bare, branch string) string {
	t.Helper()
	path := filepath.Join(bare, "refs", "heads", branch)
	if _, err := os.Stat(path); err == nil {
		return path
	}
	sha := gittest.Git(t, bare, "rev-parse", branch)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(sha+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCommitReplacesRefFile checks that a local commit moves the branch by
// renaming a new file over the ref, as git does, rather than rewriting the
// ref file in place (which a concurrent git reader sees empty).
func TestCommitReplacesRefFile(t *testing.T) {
	seed := gittest.Init(t)
	gittest.Commit(t, seed, "initial", map[string]string{"a.yaml": "a: 0\n"})
	bare := gittest.BareClone(t, seed)
	ref := looseRef(t, bare, "main")
	before := refInode(t, ref)
	w := newTestWriter(t, bare, false, nil)
	sha, err := w.Commit(testCtx(t), "edit", setFile("a.yaml", "a: 1\n"), PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after := refInode(t, ref); after == before {
		t.Errorf("ref file %s kept inode %d: it was rewritten in place", ref, before)
	}
	data, err := os.ReadFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != sha+"\n" {
		t.Errorf("ref file = %q, want %q", data, sha+"\n")
	}
	if _, err := os.Stat(ref + ".lock"); !os.IsNotExist(err) {
		t.Errorf("lock file left behind: %v", err)
	}
}

// TestCommitNeverShowsBrokenRef reads the ref file while commits move it:
// every read must see a whole object name.
func TestCommitNeverShowsBrokenRef(t *testing.T) {
	seed := gittest.Init(t)
	gittest.Commit(t, seed, "initial", map[string]string{"a.yaml": "a: 0\n"})
	bare := gittest.BareClone(t, seed)
	ref := looseRef(t, bare, "main")
	w := newTestWriter(t, bare, false, nil)

	var stop atomic.Bool
	var reads, bad atomic.Int64
	var badValue atomic.Value
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			data, err := os.ReadFile(ref)
			reads.Add(1)
			if err != nil || len(strings.TrimSpace(string(data))) != 40 {
				bad.Add(1)
				badValue.Store(fmt.Sprintf("%q (%v)", data, err))
			}
		}
	}()
	for i := range 40 {
		if _, err := w.Commit(testCtx(t), "edit", setFile("a.yaml", strings.Repeat("a", i+1)+": 1\n"), PushOptions{}); err != nil {
			stop.Store(true)
			<-done
			t.Fatal(err)
		}
	}
	stop.Store(true)
	<-done
	if n := bad.Load(); n > 0 {
		t.Errorf("%d of %d reads saw a broken ref, e.g. %s", n, reads.Load(), badValue.Load())
	}
}

// TestCommitWaitsForGitLock checks that a branch locked by another git
// process (its refs/heads/main.lock) is neither overwritten nor moved.
func TestCommitWaitsForGitLock(t *testing.T) {
	seed := gittest.Init(t)
	gittest.Commit(t, seed, "initial", map[string]string{"a.yaml": "a: 0\n"})
	bare := gittest.BareClone(t, seed)
	head := gittest.Git(t, bare, "rev-parse", "main")
	lock := filepath.Join(bare, "refs", "heads", "main.lock")
	if err := os.MkdirAll(filepath.Dir(lock), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lock, []byte("held by another git\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("held", func(t *testing.T) {
		w := newTestWriter(t, bare, false, nil)
		start := time.Now()
		_, err := w.Commit(testCtx(t), "edit", setFile("a.yaml", "a: 1\n"), PushOptions{})
		if err == nil || !strings.Contains(err.Error(), "main.lock exists") {
			t.Fatalf("err = %v, want the lock named", err)
		}
		if waited := time.Since(start); waited < refLockWait {
			t.Errorf("gave up after %v, want at least %v", waited, refLockWait)
		}
		if got := gittest.Git(t, bare, "rev-parse", "main"); got != head {
			t.Errorf("main moved to %s under another process's lock", got)
		}
		if data, _ := os.ReadFile(lock); string(data) != "held by another git\n" {
			t.Errorf("the other process's lock file was changed: %q", data)
		}
	})

	t.Run("released", func(t *testing.T) {
		w := newTestWriter(t, bare, false, nil)
		go func() {
			time.Sleep(100 * time.Millisecond)
			_ = os.Remove(lock)
		}()
		sha, err := w.Commit(testCtx(t), "edit", setFile("a.yaml", "a: 1\n"), PushOptions{})
		if err != nil {
			t.Fatalf("commit after the lock was released: %v", err)
		}
		if got := gittest.Git(t, bare, "rev-parse", "main"); got != sha {
			t.Errorf("main = %s, want %s", got, sha)
		}
	})
}
