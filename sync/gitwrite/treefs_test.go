package gitwrite

import (
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/bosun-dev/bosun/internal/gittest"
)

// TestTreeFS checks Tree.FS against the fs.FS contract (testing/fstest)
// and that it shows the edits made so far in the edit function.
func TestTreeFS(t *testing.T) {
	seed := gittest.Init(t)
	gittest.Commit(t, seed, "initial", map[string]string{
		"base/kustomization.yaml": "resources: [web.yaml]\n",
		"base/web.yaml":           "kind: Deployment\n",
		"overlays/prod/k.yaml":    "x: 1\n",
		"top.yaml":                "a: 1\n",
	})
	w := newTestWriter(t, seed, false, nil)
	_, err := w.Commit(testCtx(t), "edit", func(tr *Tree) error {
		if err := tr.WriteFile("overlays/prod/new.yaml", []byte("n: 2\n")); err != nil {
			return err
		}
		if err := tr.Remove("top.yaml"); err != nil {
			return err
		}
		fsys := tr.FS()
		if err := fstest.TestFS(fsys, "base/kustomization.yaml", "base/web.yaml", "overlays/prod/k.yaml", "overlays/prod/new.yaml"); err != nil {
			t.Error(err)
		}
		if b, err := fs.ReadFile(fsys, "overlays/prod/new.yaml"); err != nil || string(b) != "n: 2\n" {
			t.Errorf("new file = %q, %v", b, err)
		}
		if _, err := fs.Stat(fsys, "top.yaml"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("removed file: Stat = %v, want not exist", err)
		}
		if _, err := fs.ReadFile(fsys, "../x"); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("invalid path: %v", err)
		}
		return nil
	}, PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
}
