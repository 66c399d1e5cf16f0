package gitsource

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// TestBranchGone deletes the tracked branch after the Source has read it,
// locally and on a remote: Head and Fetch fail with ErrBranchGone (and
// ErrNoBranch) naming branch, repository and the head the branch had. When
// the branch comes back with unrelated history, Head and Fetch follow it and
// IsAncestor reports the rewrite.
func TestBranchGone(t *testing.T) {
	files := map[string]fentry{"a.yaml": file("a: 1\n")}
	tests := []struct {
		name   string
		branch string // the configured branch; "" follows HEAD
		remote bool
		// switchHEAD makes HEAD name another branch (at the same commit)
		// before main is deleted, as "git checkout -b other; git branch -D
		// main" does; the branch does not come back.
		switchHEAD bool
	}{
		{name: "local", branch: "main"},
		{name: "local, following HEAD", branch: ""},
		{name: "local, following HEAD, another branch checked out", branch: "", switchHEAD: true},
		{name: "remote", branch: "main", remote: true},
		{name: "remote, following HEAD", branch: "", remote: true},
		{name: "remote, following HEAD, default branch changed", branch: "", remote: true, switchHEAD: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			var (
				repo     *git.Repository
				src      *Source
				repoName string
			)
			if tt.remote {
				f := newRemoteFixture(t)
				repo, src, repoName = f.repo, f.source(t, tt.branch), "file://"+f.dir
			} else {
				var dir string
				dir, repo = initRepo(t, false)
				s, err := New(Config{URL: dir, Branch: tt.branch})
				if err != nil {
					t.Fatal(err)
				}
				src, repoName = s, dir
			}
			old := commitOn(t, repo, "main", "first", testTime(1), files)
			if head, err := src.Head(ctx); err != nil || head != old.String() {
				t.Fatalf("Head = %s, %v; want %s", head, err, old)
			}

			if tt.switchHEAD {
				setBranch(t, repo, "other", old)
				if err := repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName("other"))); err != nil {
					t.Fatal(err)
				}
			}
			if err := repo.Storer.RemoveReference(plumbing.NewBranchReferenceName("main")); err != nil {
				t.Fatal(err)
			}
			wantName := `branch "main"`
			if tt.branch == "" {
				wantName = `branch "main" (followed as HEAD's branch)`
			}
			_, headErr := src.Head(ctx)
			_, fetchErr := src.Fetch(ctx)
			for op, err := range map[string]error{"Head": headErr, "Fetch": fetchErr} {
				if !errors.Is(err, ErrBranchGone) || !errors.Is(err, ErrNoBranch) {
					t.Fatalf("%s after the branch was deleted = %v, want ErrBranchGone and ErrNoBranch", op, err)
				}
				for _, want := range []string{wantName + " no longer exists in " + repoName, "it was at " + old.String()[:8]} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%s error %q does not say %q", op, err, want)
					}
				}
			}

			if tt.switchHEAD {
				return
			}
			// Back, with history that does not build on the old head.
			rewritten := setBranch(t, repo, "main", writeCommit(t, repo, nil, "rewritten", testTime(2), files))
			if head, err := src.Head(ctx); err != nil || head != rewritten.String() {
				t.Fatalf("Head after the branch came back = %s, %v; want %s", head, err, rewritten)
			}
			if c, err := src.Fetch(ctx); err != nil || c.SHA != rewritten.String() {
				t.Fatalf("Fetch after the branch came back = %s, %v; want %s", c.SHA, err, rewritten)
			}
			if ok, err := src.IsAncestor(ctx, old.String(), rewritten.String()); err != nil || ok {
				t.Errorf("IsAncestor(old head, new head) = %v, %v; want false (history rewritten)", ok, err)
			}
		})
	}
}

// TestBranchNeverSeen checks that a branch missing from the start is
// ErrNoBranch, not ErrBranchGone: nothing was deleted under the Source.
func TestBranchNeverSeen(t *testing.T) {
	dir, repo := initRepo(t, false)
	commitOn(t, repo, "main", "first", testTime(1), map[string]fentry{"a.yaml": file("a: 1\n")})
	src, err := New(Config{URL: dir, Branch: "release"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := src.Head(context.Background()); !errors.Is(err, ErrNoBranch) || errors.Is(err, ErrBranchGone) {
			t.Fatalf("Head of a missing branch = %v, want ErrNoBranch only", err)
		}
	}
}

// TestDetachedHEADIsNotGone checks that a HEAD-following Source whose work
// tree detaches HEAD reports ErrNoBranch, not ErrBranchGone: the branch is
// still there.
func TestDetachedHEADIsNotGone(t *testing.T) {
	dir, repo := initRepo(t, false)
	c := commitOn(t, repo, "main", "first", testTime(1), map[string]fentry{"a.yaml": file("a: 1\n")})
	src, err := New(Config{URL: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Head(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := repo.Storer.SetReference(plumbing.NewHashReference(plumbing.HEAD, c)); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Head(context.Background()); !errors.Is(err, ErrNoBranch) || errors.Is(err, ErrBranchGone) || !strings.Contains(err.Error(), "HEAD is detached") {
		t.Fatalf("Head with a detached HEAD = %v, want ErrNoBranch saying HEAD is detached", err)
	}
}
