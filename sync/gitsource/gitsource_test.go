package gitsource

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/bosun-dev/bosun/internal/gittest"
)

func TestNew(t *testing.T) {
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		cfg       Config
		wantLocal bool
		wantPath  string
		wantErr   bool
	}{
		{name: "absolute path", cfg: Config{URL: "/srv/repo"}, wantLocal: true, wantPath: "/srv/repo"},
		{name: "relative path", cfg: Config{URL: "./repo"}, wantLocal: true, wantPath: filepath.Join(cwd, "repo")},
		{name: "bare word is a path", cfg: Config{URL: "repo"}, wantLocal: true, wantPath: filepath.Join(cwd, "repo")},
		{name: "path with colon after slash", cfg: Config{URL: "./a:b"}, wantLocal: true, wantPath: filepath.Join(cwd, "a:b")},
		{name: "file url", cfg: Config{URL: "file:///srv/repo"}, wantLocal: true, wantPath: "/srv/repo"},
		{name: "https", cfg: Config{URL: "https://git.example.com/ops/repo.git", CacheDir: "/var/cache"}},
		{name: "ssh", cfg: Config{URL: "ssh://git@git.example.com:2222/ops/repo.git", CacheDir: "/var/cache"}},
		{name: "scp-like", cfg: Config{URL: "git@github.com:ops/repo.git", CacheDir: "/var/cache"}},
		{name: "git protocol", cfg: Config{URL: "git://git.example.com/repo.git", CacheDir: "/var/cache"}},
		{name: "branch as full ref", cfg: Config{URL: "/srv/repo", Branch: "refs/heads/main"}, wantLocal: true, wantPath: "/srv/repo"},
		{name: "empty url", cfg: Config{URL: " "}, wantErr: true},
		{name: "unknown scheme", cfg: Config{URL: "ftp://example.com/repo"}, wantErr: true},
		{name: "remote without cache dir", cfg: Config{URL: "https://git.example.com/repo.git"}, wantErr: true},
		{name: "https without host", cfg: Config{URL: "https:///repo.git", CacheDir: "/c"}, wantErr: true},
		{name: "file url with host", cfg: Config{URL: "file://server/srv/repo"}, wantErr: true},
		{name: "tag instead of branch", cfg: Config{URL: "/srv/repo", Branch: "refs/tags/v1"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("New(%+v) error = %v, want ErrInvalidConfig", tt.cfg, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if s.Local() != tt.wantLocal {
				t.Errorf("Local() = %v, want %v", s.Local(), tt.wantLocal)
			}
			if tt.wantLocal && s.path != tt.wantPath {
				t.Errorf("path = %q, want %q", s.path, tt.wantPath)
			}
		})
	}
}

func TestFetchLocal(t *testing.T) {
	files := map[string]fentry{
		"deploy/web.yaml":    file("kind: Deployment\n"),
		"services/web.yaml":  file("kind: Service\n"),
		"README.md":          file("# cluster\n"),
		"scripts/lint.sh":    exe("#!/bin/sh\n"),
		"deploy/current.yml": link("web.yaml"),
	}
	for _, bare := range []bool{false, true} {
		name := map[bool]string{false: "work tree", true: "bare"}[bare]
		t.Run(name, func(t *testing.T) {
			dir, repo := initRepo(t, bare)
			commitOn(t, repo, "main", "first\n", testTime(0), map[string]fentry{"README.md": file("old\n")})
			want := commitOn(t, repo, "main", "Add web app\n\nWith a service in front.\n", testTime(1), files)

			src := mainSource(t, dir)
			c, err := src.Fetch(context.Background())
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if c.SHA != want.String() {
				t.Errorf("SHA = %s, want %s", c.SHA, want)
			}
			if c.Author != "A U Thor <author@example.com>" {
				t.Errorf("Author = %q", c.Author)
			}
			if c.Subject != "Add web app" {
				t.Errorf("Subject = %q", c.Subject)
			}
			if c.Message != "Add web app\n\nWith a service in front.\n" {
				t.Errorf("Message = %q", c.Message)
			}
			if !c.Time.Equal(testTime(1)) {
				t.Errorf("Time = %v, want %v", c.Time, testTime(1))
			}
			got := readAll(t, c)
			wantFiles := map[string]string{
				"deploy/web.yaml":   "kind: Deployment\n",
				"services/web.yaml": "kind: Service\n",
				"README.md":         "# cluster\n",
				"scripts/lint.sh":   "#!/bin/sh\n",
			}
			if !maps.Equal(got, wantFiles) {
				t.Errorf("files = %v, want %v", got, wantFiles)
			}
			head, err := src.Head(context.Background())
			if err != nil || head != want.String() {
				t.Errorf("Head = %q, %v; want %s", head, err, want)
			}
		})
	}
}

// TestFetchFollowsBranch moves the branch the ways users do and checks that each
// Fetch returns the new head with its files.
func TestFetchFollowsBranch(t *testing.T) {
	dir, repo := initRepo(t, false)
	base := commitOn(t, repo, "main", "base", testTime(0), map[string]fentry{"a.yaml": file("v0")})
	src := mainSource(t, dir)
	var second plumbing.Hash
	steps := []struct {
		name     string
		move     func() plumbing.Hash
		wantFile string
	}{
		{name: "nothing new", move: func() plumbing.Hash { return base }, wantFile: "v0"},
		{name: "new commit", move: func() plumbing.Hash {
			second = commitOn(t, repo, "main", "second", testTime(1), map[string]fentry{"a.yaml": file("v1")})
			return second
		}, wantFile: "v1"},
		{name: "amended commit", move: func() plumbing.Hash {
			h := writeCommit(t, repo, []plumbing.Hash{base}, "second, amended", testTime(2), map[string]fentry{"a.yaml": file("v1b")})
			return setBranch(t, repo, "main", h)
		}, wantFile: "v1b"},
		{name: "force reset to older commit", move: func() plumbing.Hash {
			return setBranch(t, repo, "main", base)
		}, wantFile: "v0"},
		{name: "unrelated history", move: func() plumbing.Hash {
			return setBranch(t, repo, "main", writeCommit(t, repo, nil, "orphan", testTime(3), map[string]fentry{"a.yaml": file("orphan")}))
		}, wantFile: "orphan"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			want := st.move()
			c := mustFetch(t, src)
			if c.SHA != want.String() {
				t.Fatalf("SHA = %s, want %s", c.SHA, want)
			}
			if got := readAll(t, c)["a.yaml"]; got != st.wantFile {
				t.Errorf("a.yaml = %q, want %q", got, st.wantFile)
			}
		})
	}
}

func TestFetchBranchSelection(t *testing.T) {
	dir, repo := initRepo(t, false)
	mainH := commitOn(t, repo, "main", "on main", testTime(0), map[string]fentry{"f": file("main")})
	devH := commitOn(t, repo, "dev", "on dev", testTime(1), map[string]fentry{"f": file("dev")})
	setHEAD := func(target plumbing.ReferenceName) {
		if err := repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, target)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		url     string
		branch  string
		prepare func()
		want    plumbing.Hash
		wantErr error
	}{
		{name: "explicit main", branch: "main", want: mainH},
		{name: "explicit dev", branch: "dev", want: devH},
		{name: "full ref name", branch: "refs/heads/dev", want: devH},
		{name: "default follows HEAD", prepare: func() { setHEAD("refs/heads/main") }, want: mainH},
		{name: "default after HEAD moved", prepare: func() { setHEAD("refs/heads/dev") }, want: devH},
		{name: "missing branch", branch: "nope", wantErr: ErrNoBranch},
		{name: "HEAD names unborn branch", prepare: func() { setHEAD("refs/heads/unborn") }, wantErr: ErrNoBranch},
		{name: "detached HEAD without branch", prepare: func() {
			if err := repo.Storer.SetReference(plumbing.NewHashReference(plumbing.HEAD, mainH)); err != nil {
				t.Fatal(err)
			}
		}, wantErr: ErrNoBranch},
		{name: "detached HEAD with branch", branch: "dev", want: devH},
		{name: "nonexistent path", url: filepath.Join(t.TempDir(), "missing"), branch: "main", wantErr: ErrUnreachable},
		{name: "directory that is not a repository", url: t.TempDir(), branch: "main", wantErr: ErrUnreachable},
		{name: "file url", url: "file://" + dir, branch: "dev", want: devH},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.prepare != nil {
				tt.prepare()
			}
			url := tt.url
			if url == "" {
				url = dir
			}
			src, err := New(Config{URL: url, Branch: tt.branch})
			if err != nil {
				t.Fatal(err)
			}
			c, err := src.Fetch(context.Background())
			head, herr := src.Head(context.Background())
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !errors.Is(herr, tt.wantErr) {
					t.Fatalf("Fetch error = %v, Head error = %v, want %v", err, herr, tt.wantErr)
				}
				return
			}
			if err != nil || herr != nil {
				t.Fatalf("Fetch: %v, Head: %v", err, herr)
			}
			if c.SHA != tt.want.String() || head != tt.want.String() {
				t.Errorf("Fetch SHA = %s, Head = %s, want %s", c.SHA, head, tt.want)
			}
		})
	}
}

func TestFetchEmptyRepository(t *testing.T) {
	dir, _ := initRepo(t, false)
	src, err := New(Config{URL: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Fetch(context.Background()); !errors.Is(err, ErrNoBranch) {
		t.Fatalf("Fetch on empty repository: %v, want ErrNoBranch", err)
	}
}

func TestFetchUnchangedReusesCommit(t *testing.T) {
	dir, repo := initRepo(t, false)
	commitOn(t, repo, "main", "one", testTime(0), map[string]fentry{"a": file("1")})
	src := mainSource(t, dir)
	c1 := mustFetch(t, src)
	c2 := mustFetch(t, src)
	if c1.Tree != c2.Tree {
		t.Error("unchanged branch: Fetch built a new tree instead of reusing the cached commit")
	}
	commitOn(t, repo, "main", "two", testTime(1), map[string]fentry{"a": file("2")})
	c3 := mustFetch(t, src)
	if c3.Tree == c1.Tree || c3.SHA == c1.SHA {
		t.Error("moved branch: Fetch returned the cached commit")
	}
}

func TestFetchCanceledContext(t *testing.T) {
	dir, repo := initRepo(t, false)
	commitOn(t, repo, "main", "one", testTime(0), map[string]fentry{"a": file("1")})
	src, err := New(Config{URL: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := src.Fetch(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Fetch with canceled context: %v", err)
	}
}

// TestTreeSurvivesGC reads an old commit's tree after "git gc --prune=now"
// replaced the pack the tree's object storage had indexed.
func TestTreeSurvivesGC(t *testing.T) {
	dir, repo := initRepo(t, false)
	commitOn(t, repo, "main", "one", testTime(0), map[string]fentry{"a.yaml": file("a"), "b/c.yaml": file("c")})
	gittest.Git(t, dir, "gc", "--prune=now", "--quiet")
	packs := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "*.pack"))
		return m
	}
	before := packs()
	if len(before) != 1 {
		t.Fatalf("packs after first gc: %v", before)
	}
	src := mainSource(t, dir)
	c := mustFetch(t, src)
	// Reading one file makes the storage index the current pack.
	if _, err := fs.ReadFile(c.Tree, "a.yaml"); err != nil {
		t.Fatal(err)
	}
	commitOn(t, repo, "main", "two", testTime(1), map[string]fentry{"a.yaml": file("a2"), "b/c.yaml": file("c")})
	gittest.Git(t, dir, "gc", "--prune=now", "--quiet")
	if after := packs(); len(after) != 1 || after[0] == before[0] {
		t.Fatalf("second gc did not replace the pack: before %v, after %v", before, after)
	}
	want := map[string]string{"a.yaml": "a", "b/c.yaml": "c"}
	if got := readAll(t, c); !maps.Equal(got, want) {
		t.Errorf("old tree after gc: files = %v, want %v", got, want)
	}
	c2 := mustFetch(t, src)
	want = map[string]string{"a.yaml": "a2", "b/c.yaml": "c"}
	if got := readAll(t, c2); !maps.Equal(got, want) {
		t.Errorf("new commit after gc: files = %v, want %v", got, want)
	}
}

// TestConcurrentUse fetches and reads trees from several goroutines (run with -race).
func TestConcurrentUse(t *testing.T) {
	dir, repo := initRepo(t, false)
	files := map[string]fentry{}
	for _, p := range []string{"a", "b/c", "b/d", "e/f/g", "e/f/h"} {
		files[p+".yaml"] = file(p)
	}
	commitOn(t, repo, "main", "one", testTime(0), files)
	src := mainSource(t, dir)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			c, err := src.Fetch(context.Background())
			if err != nil {
				errs <- err
				return
			}
			n := 0
			if err := walkFiles(c, func(string, []byte) { n++ }); err != nil {
				errs <- err
			} else if n != len(files) {
				errs <- errors.New("wrong number of files")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkFetchUnchanged measures a poll of a local repository that finds
// nothing new (target: <= 20 ms).
func BenchmarkFetchUnchanged(b *testing.B) {
	dir, repo := initRepo(b, false)
	files := map[string]fentry{}
	for i := range 200 {
		files[filepath.Join("apps", string(rune('a'+i%26)), "f"+string(rune('a'+i/26))+".yaml")] = file("kind: ConfigMap\n")
	}
	commitOn(b, repo, "main", "one", testTime(0), files)
	src, err := New(Config{URL: dir, Branch: "main"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := src.Fetch(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := src.Fetch(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
