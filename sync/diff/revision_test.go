package diff

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/internal/gittest"
	"github.com/bosun-dev/bosun/sync/gitsource"
)

// gitRepo makes a work tree with commits on main (a.yaml "one", then
// "two", tagged v2 annotated), a branch feature (a.yaml "feature") and an
// uncommitted edit (a.yaml "dirty"). It returns the work tree, a bare clone
// and the SHA of main's first commit.
func gitRepo(t *testing.T) (work, bare, first string) {
	t.Helper()
	work = gittest.Init(t)
	gittest.Write(t, work, map[string]string{"deploy/a.yaml": "one\n"})
	if err := os.Symlink("a.yaml", filepath.Join(work, "deploy", "link.yaml")); err != nil {
		t.Fatal(err)
	}
	first = gittest.Commit(t, work, "first", nil)
	gittest.Commit(t, work, "second", map[string]string{"deploy/a.yaml": "two\n"})
	gittest.Git(t, work, "tag", "-a", "v2", "-m", "v2")
	gittest.Git(t, work, "checkout", "-q", "-b", "feature")
	gittest.Commit(t, work, "on feature", map[string]string{"deploy/a.yaml": "feature\n"})
	gittest.Git(t, work, "checkout", "-q", "main")
	gittest.Write(t, work, map[string]string{"deploy/a.yaml": "dirty\n"})
	return work, gittest.BareClone(t, work), first
}

func TestReadRevision(t *testing.T) {
	work, bare, first := gitRepo(t)
	tests := []struct {
		name   string
		opts   RevisionOptions
		remote bool
		want   string // content of deploy/a.yaml
		sha    bool   // a commit, not a working tree
	}{
		{name: "working tree", opts: RevisionOptions{Repo: work}, want: "dirty\n"},
		{name: "local branch", opts: RevisionOptions{Repo: work, Rev: "feature"}, want: "feature\n", sha: true},
		{name: "local main branch", opts: RevisionOptions{Repo: work, Rev: "main"}, want: "two\n", sha: true},
		{name: "local annotated tag", opts: RevisionOptions{Repo: work, Rev: "v2"}, want: "two\n", sha: true},
		{name: "local short sha", opts: RevisionOptions{Repo: work, Rev: first[:10]}, want: "one\n", sha: true},
		{name: "local relative rev", opts: RevisionOptions{Repo: work, Rev: "main~1"}, want: "one\n", sha: true},
		{name: "bare head", opts: RevisionOptions{Repo: bare}, want: "two\n", sha: true},
		{name: "file url branch", opts: RevisionOptions{Repo: "file://" + bare, Rev: "feature"}, want: "feature\n", sha: true},
		{name: "remote branch", opts: RevisionOptions{Repo: "file://" + bare, Rev: "feature"}, remote: true, want: "feature\n", sha: true},
		{name: "remote tag", opts: RevisionOptions{Repo: "file://" + bare, Rev: "v2"}, remote: true, want: "two\n", sha: true},
		{name: "remote sha", opts: RevisionOptions{Repo: "file://" + bare, Rev: first}, remote: true, want: "one\n", sha: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			tt.opts.TempDir = t.TempDir()
			rev, err := readRevision(ctx, tt.opts, tt.remote)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"deploy/a.yaml", "deploy/link.yaml"} {
				b, err := fs.ReadFile(rev.Tree, f)
				if err != nil {
					t.Fatal(err)
				}
				if string(b) != tt.want {
					t.Errorf("%s = %q, want %q", f, b, tt.want)
				}
			}
			if (rev.SHA != "") != tt.sha || !strings.Contains(rev.Name, short(rev.SHA)) {
				t.Errorf("SHA %q, Name %q", rev.SHA, rev.Name)
			}
			if err := rev.Close(); err != nil {
				t.Fatal(err)
			}
			if ents, _ := os.ReadDir(tt.opts.TempDir); len(ents) != 0 {
				t.Errorf("Close left %d entries in the temp dir", len(ents))
			}
		})
	}
}

func TestReadRevisionErrors(t *testing.T) {
	work, bare, _ := gitRepo(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tc := range []struct {
		opts   RevisionOptions
		remote bool
		want   error
	}{
		{opts: RevisionOptions{Repo: work, Rev: "nope"}, want: ErrUnknownRevision},
		{opts: RevisionOptions{Repo: "file://" + bare, Rev: "nope"}, remote: true, want: ErrUnknownRevision},
		{opts: RevisionOptions{Repo: t.TempDir(), Rev: "main"}, want: gitsource.ErrUnreachable},
	} {
		tc.opts.TempDir = t.TempDir()
		_, err := readRevision(ctx, tc.opts, tc.remote)
		if !errors.Is(err, tc.want) {
			t.Errorf("%+v: err = %v, want %v", tc.opts, err, tc.want)
		}
		if ents, _ := os.ReadDir(tc.opts.TempDir); len(ents) != 0 {
			t.Errorf("%+v: failure left %d entries in the temp dir", tc.opts, len(ents))
		}
	}
}
