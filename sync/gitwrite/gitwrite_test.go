package gitwrite

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/bosun-dev/bosun/internal/gittest"
	"github.com/bosun-dev/bosun/manifests"
)

// TestCommit writes a commit to each kind of repository and checks the
// branch, the content, the author and (for a checked-out branch) the work tree.
func TestCommit(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t testing.TB, seed string) string // returns the URL
		remote bool
	}{
		{name: "remote bare over transport", setup: gittest.BareClone, remote: true},
		{name: "local bare in place", setup: gittest.BareClone},
		{name: "local checked out in place", setup: func(_ testing.TB, seed string) string { return seed }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seed := gittest.Init(t)
			base := gittest.Commit(t, seed, "initial", map[string]string{"web.yaml": "# web\nreplicas: 1\n", "old.txt": "x\n", "keep/a.txt": "a\n"})
			url := tt.setup(t, seed)
			w := newTestWriter(t, url, tt.remote, nil)
			sha, err := w.Commit(testCtx(t), "Scale web", func(tr *Tree) error {
				data, err := tr.ReadFile("web.yaml")
				if err != nil {
					return err
				}
				if err := tr.WriteFile("web.yaml", []byte(strings.Replace(string(data), "1", "4", 1))); err != nil {
					return err
				}
				if err := tr.Remove("old.txt"); err != nil {
					return err
				}
				if !tr.Exists("keep/a.txt") || tr.Exists("nope") {
					t.Error("Exists is wrong")
				}
				if _, err := tr.ReadFile("nope.yaml"); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("ReadFile(missing) = %v", err)
				}
				return tr.WriteFile("new/dir/b.yaml", []byte("b: 1\n"))
			}, PushOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := gittest.Git(t, url, "rev-parse", "main"); got != sha {
				t.Fatalf("main = %s, want %s", got, sha)
			}
			if got := show(t, url, "main", "web.yaml"); got != "# web\nreplicas: 4" {
				t.Errorf("web.yaml = %q", got)
			}
			if got := files(t, url, "main"); got != "keep/a.txt\nnew/dir/b.yaml\nweb.yaml" {
				t.Errorf("files = %q", got)
			}
			if got := gittest.Git(t, url, "log", "-1", "--format=%an <%ae>|%cn|%P|%B", "main"); got != "Bo Sun <bo@example.com>|Bo Sun|"+base+"|Scale web" {
				t.Errorf("commit = %q", got)
			}
			gittest.Git(t, url, "fsck", "--strict")
			if url == seed {
				if st := gittest.Git(t, seed, "status", "--porcelain"); st != "" {
					t.Errorf("work tree not clean after commit:\n%s", st)
				}
				if b, err := os.ReadFile(filepath.Join(seed, "new/dir/b.yaml")); err != nil || string(b) != "b: 1\n" {
					t.Errorf("work tree file = %q, %v", b, err)
				}
				if _, err := os.Stat(filepath.Join(seed, "old.txt")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("old.txt still in work tree: %v", err)
				}
			}

			// Same content again: no commit.
			_, err = w.Commit(testCtx(t), "again", setFile("web.yaml", "# web\nreplicas: 4\n"), PushOptions{})
			if !errors.Is(err, ErrNoChange) {
				t.Errorf("unchanged commit: err = %v, want ErrNoChange", err)
			}
		})
	}
}

// TestCommitDirty refuses to overwrite uncommitted work in a checked-out branch.
func TestCommitDirty(t *testing.T) {
	seed := gittest.Init(t)
	head := gittest.Commit(t, seed, "initial", map[string]string{"web.yaml": "replicas: 1\n", "other.yaml": "x: 1\n"})
	if err := os.WriteFile(filepath.Join(seed, "web.yaml"), []byte("replicas: 9 # mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w := newTestWriter(t, seed, false, nil)
	_, err := w.Commit(testCtx(t), "scale", setFile("web.yaml", "replicas: 2\n"), PushOptions{})
	if !errors.Is(err, ErrDirty) || !strings.Contains(err.Error(), "web.yaml") {
		t.Fatalf("err = %v, want ErrDirty naming web.yaml", err)
	}
	if got := gittest.Git(t, seed, "rev-parse", "main"); got != head {
		t.Errorf("branch moved to %s", got)
	}
	// A change elsewhere goes through and leaves the user's edit alone.
	if _, err := w.Commit(testCtx(t), "other", setFile("other.yaml", "x: 2\n"), PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if st := gittest.Git(t, seed, "status", "--porcelain"); st != " M web.yaml" {
		t.Errorf("status = %q, want only the user's change", st)
	}
}

// TestCommitRetry makes a second writer win the race during the first
// writer's edit; the first must fetch, redo its edit on the new head, and
// push on top of it.
func TestCommitRetry(t *testing.T) {
	for _, remote := range []bool{true, false} {
		t.Run(map[bool]string{true: "remote push", false: "local in place"}[remote], func(t *testing.T) {
			seed := gittest.Init(t)
			gittest.Commit(t, seed, "initial", map[string]string{"a.yaml": "a: 1\n", "b.yaml": "b: 1\n"})
			bare := gittest.BareClone(t, seed)
			first := newTestWriter(t, bare, remote, nil)
			second := newTestWriter(t, bare, remote, nil)
			calls := 0
			var rival string
			sha, err := first.Commit(testCtx(t), "edit a", func(tr *Tree) error {
				calls++
				if calls == 1 {
					var err error
					rival, err = second.Commit(testCtx(t), "edit b", setFile("b.yaml", "b: 2\n"), PushOptions{})
					if err != nil {
						t.Fatal(err)
					}
				}
				b, err := tr.ReadFile("b.yaml")
				if err != nil {
					return err
				}
				return tr.WriteFile("a.yaml", append([]byte("a: 2\n# saw "), b...))
			}, PushOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if calls != 2 {
				t.Errorf("edit ran %d times, want 2", calls)
			}
			if got := gittest.Git(t, bare, "rev-parse", sha+"^"); got != rival {
				t.Errorf("parent = %s, want the rival commit %s", got, rival)
			}
			if got := show(t, bare, "main", "a.yaml"); got != "a: 2\n# saw b: 2" {
				t.Errorf("a.yaml = %q (the retried edit must see the new head)", got)
			}
			if got := show(t, bare, "main", "b.yaml"); got != "b: 2" {
				t.Errorf("b.yaml = %q", got)
			}
		})
	}
}

// TestCommitRaced gives up after MaxAttempts lost races.
func TestCommitRaced(t *testing.T) {
	seed := gittest.Init(t)
	gittest.Commit(t, seed, "initial", map[string]string{"a.yaml": "a: 0\n"})
	bare := gittest.BareClone(t, seed)
	w := newTestWriter(t, bare, false, nil)
	rival := newTestWriter(t, bare, false, nil)
	n := 0
	_, err := w.Commit(testCtx(t), "edit", func(tr *Tree) error {
		n++
		if _, err := rival.Commit(testCtx(t), "rival", setFile("r.yaml", strings.Repeat("r", n)), PushOptions{}); err != nil {
			t.Fatal(err)
		}
		return tr.WriteFile("a.yaml", []byte("a: 1\n"))
	}, PushOptions{})
	if !errors.Is(err, ErrRaced) || n != MaxAttempts {
		t.Fatalf("err = %v after %d edits, want ErrRaced after %d", err, n, MaxAttempts)
	}
}

// TestPushBranch pushes to a new branch and leaves the tracked one alone.
func TestPushBranch(t *testing.T) {
	for _, remote := range []bool{true, false} {
		t.Run(map[bool]string{true: "remote", false: "local"}[remote], func(t *testing.T) {
			seed := gittest.Init(t)
			head := gittest.Commit(t, seed, "initial", map[string]string{"a.yaml": "a: 1\n"})
			bare := gittest.BareClone(t, seed)
			w := newTestWriter(t, bare, remote, nil)
			sha, err := w.Commit(testCtx(t), "edit a", setFile("a.yaml", "a: 2\n"), PushOptions{Branch: "bosun/scale-a"})
			if err != nil {
				t.Fatal(err)
			}
			if got := gittest.Git(t, bare, "rev-parse", "main"); got != head {
				t.Errorf("main moved to %s", got)
			}
			if got := gittest.Git(t, bare, "rev-parse", "bosun/scale-a"); got != sha {
				t.Errorf("branch = %s, want %s", got, sha)
			}
			if got := gittest.Git(t, bare, "rev-parse", sha+"^"); got != head {
				t.Errorf("parent = %s, want %s", got, head)
			}
			_, err = w.Commit(testCtx(t), "edit a", setFile("a.yaml", "a: 3\n"), PushOptions{Branch: "bosun/scale-a"})
			if !errors.Is(err, ErrBranchExists) {
				t.Errorf("second push: err = %v, want ErrBranchExists", err)
			}
			_, err = w.Commit(testCtx(t), "edit a", setFile("a.yaml", "a: 3\n"), PushOptions{Branch: "main"})
			if err == nil || !strings.Contains(err.Error(), "tracked branch") {
				t.Errorf("push to main as a PR branch: err = %v", err)
			}
		})
	}
}

func TestRevert(t *testing.T) {
	seed := gittest.Init(t)
	root := gittest.Commit(t, seed, "add web and db", map[string]string{"web.yaml": "image: v1\n", "db.yaml": "db: 1\n", "gone.yaml": "g: 1\n"})
	modify := gittest.Commit(t, seed, "web v2", map[string]string{"web.yaml": "image: v2\n"})
	add := gittest.Commit(t, seed, "add cache", map[string]string{"cache/c.yaml": "c: 1\n"})
	del := gittest.Commit(t, seed, "drop gone", map[string]string{"gone.yaml": ""})
	gittest.Commit(t, seed, "unrelated", map[string]string{"other.yaml": "o: 1\n"})

	tests := []struct {
		name    string
		target  string
		why     string
		want    map[string]string // files of the revert commit ("" = absent)
		message string
	}{
		{name: "modify", target: modify, want: map[string]string{"web.yaml": "image: v1", "cache/c.yaml": "c: 1", "other.yaml": "o: 1"},
			message: "Revert \"web v2\"\n\nThis reverts commit " + modify + ".\n"},
		{name: "add", target: add, why: "cache is broken", want: map[string]string{"cache/c.yaml": "", "web.yaml": "image: v2"},
			message: "Revert \"add cache\"\n\nThis reverts commit " + add + ".\n\ncache is broken\n"},
		{name: "delete", target: del[:10], want: map[string]string{"gone.yaml": "g: 1", "other.yaml": "o: 1"},
			message: "Revert \"drop gone\"\n\nThis reverts commit " + del + ".\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bare := gittest.BareClone(t, seed)
			head := gittest.Git(t, bare, "rev-parse", "main")
			w := newTestWriter(t, bare, true, nil)
			sha, err := w.Revert(testCtx(t), tt.target, tt.why, PushOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := gittest.Git(t, bare, "log", "-1", "--format=%B", sha); got != strings.TrimSuffix(tt.message, "\n") {
				t.Errorf("message = %q, want %q", got, tt.message)
			}
			if got := gittest.Git(t, bare, "rev-parse", sha+"^"); got != head {
				t.Errorf("parent = %s, want %s", got, head)
			}
			for p, want := range tt.want {
				if want == "" {
					if strings.Contains(files(t, bare, sha), p) {
						t.Errorf("%s still present", p)
					}
					continue
				}
				if got := show(t, bare, sha, p); got != want {
					t.Errorf("%s = %q, want %q", p, got, want)
				}
			}
			// The revert's diff is exactly the inverse of the target's.
			if got, want := gittest.Git(t, bare, "diff", head, sha), gittest.Git(t, bare, "diff", tt.target, tt.target+"^"); got != want {
				t.Errorf("revert diff:\n%s\nwant:\n%s", got, want)
			}
		})
	}

	t.Run("root commit", func(t *testing.T) {
		s := gittest.Init(t)
		r := gittest.Commit(t, s, "root", map[string]string{"a.yaml": "a\n"})
		gittest.Commit(t, s, "more", map[string]string{"b.yaml": "b\n"})
		w := newTestWriter(t, s, false, nil)
		sha, err := w.Revert(testCtx(t), r, "", PushOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := files(t, s, sha); got != "b.yaml" {
			t.Errorf("files = %q", got)
		}
		if st := gittest.Git(t, s, "status", "--porcelain"); st != "" {
			t.Errorf("status = %q", st)
		}
		_ = root
	})
}

func TestRevertRefused(t *testing.T) {
	seed := gittest.Init(t)
	v2 := gittest.Commit(t, seed, "web v2", map[string]string{"web.yaml": "image: v2\n", "db.yaml": "d\n"})
	later := gittest.Commit(t, seed, "web v3", map[string]string{"web.yaml": "image: v3\n"})
	gittest.Git(t, seed, "checkout", "-q", "-b", "side", v2)
	gittest.Commit(t, seed, "side", map[string]string{"side.yaml": "s\n"})
	gittest.Git(t, seed, "checkout", "-q", "main")
	gittest.Git(t, seed, "merge", "-q", "--no-ff", "-m", "merge side", "side")
	merge := gittest.Git(t, seed, "rev-parse", "HEAD")
	gittest.Git(t, seed, "checkout", "-q", "-b", "elsewhere")
	off := gittest.Commit(t, seed, "off branch", map[string]string{"x.yaml": "x\n"})
	gittest.Git(t, seed, "checkout", "-q", "main")
	bare := gittest.BareClone(t, seed)

	tests := []struct {
		name, target string
		is           error
		message      string
	}{
		{name: "later change", target: v2, is: ErrConflict, message: `web.yaml (by ` + later[:8] + ` "web v3") changed since`},
		{name: "merge", target: merge, is: ErrMergeCommit, message: "git revert -m 1"},
		{name: "not on branch", target: off, is: ErrNotFound, message: "is not on branch main"},
		{name: "unknown", target: "deadbeef", is: ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			head := gittest.Git(t, bare, "rev-parse", "main")
			w := newTestWriter(t, bare, false, nil)
			_, err := w.Revert(testCtx(t), tt.target, "", PushOptions{})
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("err = %v, want %v containing %q", err, tt.is, tt.message)
			}
			if got := gittest.Git(t, bare, "rev-parse", "main"); got != head {
				t.Errorf("main moved")
			}
		})
	}
}

// TestLastCommitTouching finds the image change and skips a replicas-only one.
func TestLastCommitTouching(t *testing.T) {
	seed := gittest.Init(t)
	gittest.Commit(t, seed, "web v1", map[string]string{"apps/web.yaml": gittest.Web})
	v2 := gittest.Commit(t, seed, "web v2", map[string]string{"apps/web.yaml": strings.Replace(gittest.Web, "hello:v1", "hello:v2", 1)})
	gittest.Commit(t, seed, "scale", map[string]string{"apps/web.yaml": strings.Replace(strings.Replace(gittest.Web, "hello:v1", "hello:v2", 1), "replicas: 2", "replicas: 5", 1)})
	gittest.Commit(t, seed, "other", map[string]string{"apps/db.yaml": "x: 1\n"})

	template := func(file string, data []byte) (any, bool) {
		objs, _ := manifests.Decode(file, data, manifests.Limits{})
		for _, o := range objs {
			if d, ok := o.Obj.(*appsv1.Deployment); ok && d.Name == "web" && d.Namespace == "default" {
				return d.Spec.Template, true
			}
		}
		return nil, false
	}
	w := newTestWriter(t, seed, false, nil)
	c, err := w.LastCommitTouching(testCtx(t), []string{"apps/web.yaml"}, func(p string, before, after []byte) bool {
		a, okA := template(p, before)
		b, okB := template(p, after)
		return okA && okB && !reflect.DeepEqual(a, b)
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.SHA != v2 || c.Subject != "web v2" {
		t.Errorf("found %s %q, want %s", c.SHA, c.Subject, v2)
	}
	_, err = w.LastCommitTouching(testCtx(t), nil, func(string, []byte, []byte) bool { return false })
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("no match: err = %v", err)
	}
}

// A later commit that changed other lines of the same file does not block
// the revert: the commit's lines are undone, the later ones kept, as git's
// own revert merges them.
func TestRevertMergesLaterChangesElsewhere(t *testing.T) {
	seed := gittest.Init(t)
	gittest.Commit(t, seed, "web", map[string]string{"web.yaml": "# web\nreplicas: 3\na: 1\nb: 2\nc: 3\nd: 4\nimage: v1\n"})
	v2 := gittest.Commit(t, seed, "web v2", map[string]string{"web.yaml": "# web\nreplicas: 3\na: 1\nb: 2\nc: 3\nd: 4\nimage: v2\n"})
	gittest.Commit(t, seed, "scale", map[string]string{"web.yaml": "# web\nreplicas: 5\na: 1\nb: 2\nc: 3\nd: 4\nimage: v2\n"})
	bare := gittest.BareClone(t, seed)
	w := newTestWriter(t, bare, true, nil)
	sha, err := w.Revert(testCtx(t), v2, "", PushOptions{})
	if err != nil {
		t.Fatalf("revert of v2 after a later scale: %v", err)
	}
	if got, want := show(t, bare, sha, "web.yaml"), "# web\nreplicas: 5\na: 1\nb: 2\nc: 3\nd: 4\nimage: v1"; got != want {
		t.Errorf("web.yaml after the revert = %q, want %q", got, want)
	}
}
