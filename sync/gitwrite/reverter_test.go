package gitwrite

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// TestBranchReverter reverts a real commit of a local repository.
func TestBranchReverter(t *testing.T) {
	dir := t.TempDir()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	commit := func(msg, content string) string {
		if err := os.WriteFile(filepath.Join(dir, "hello.yaml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := wt.Add("hello.yaml"); err != nil {
			t.Fatal(err)
		}
		h, err := wt.Commit(msg, &git.CommitOptions{Author: &object.Signature{Name: "A", Email: "a@x", When: time.Unix(1700000000, 0)}})
		if err != nil {
			t.Fatal(err)
		}
		return h.String()
	}
	commit("v1", "image: hello:v1\n")
	bad := commit("Deploy v2", "image: hello:v2\n")

	w, err := New(Config{URL: dir, Branch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	why := "bosun reverted this commit automatically: Deployment demo/hello did not become available"
	newSHA, err := BranchReverter{Writer: w}.Revert(t.Context(), bad, why)
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.CommitObject(plumbing.NewHash(newSHA))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Message, `Revert "Deploy v2"`) || !strings.Contains(c.Message, why) || !strings.Contains(c.Message, bad) {
		t.Errorf("revert message = %q", c.Message)
	}
	f, err := c.File("hello.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Contents(); got != "image: hello:v1\n" {
		t.Errorf("hello.yaml after the revert = %q, want v1", got)
	}
}
