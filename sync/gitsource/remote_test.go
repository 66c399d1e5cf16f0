package gitsource

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	gitfile "github.com/go-git/go-git/v5/plumbing/transport/file"
	"github.com/go-git/go-git/v5/plumbing/transport/server"

	"github.com/bosun-dev/bosun/internal/testenv"
)

// TestMain serves file:// URLs with go-git's in-process server instead of the
// git-upload-pack program, so the remote path is tested without network and
// without the git CLI. client.InstallProtocol changes process-wide state, which
// is why only the test binary does it, once, before any test runs.
func TestMain(m *testing.M) {
	client.InstallProtocol("file", server.NewClient(server.NewFilesystemLoader(osfs.New("/"))))
	os.Exit(m.Run())
}

// remoteFixture is a bare "server" repository and a Source that clones it over
// the in-process transport.
type remoteFixture struct {
	dir   string
	repo  *git.Repository
	cache string
}

func newRemoteFixture(t *testing.T) *remoteFixture {
	t.Helper()
	dir, repo := initRepo(t, true)
	return &remoteFixture{dir: dir, repo: repo, cache: t.TempDir()}
}

func (f *remoteFixture) source(t *testing.T, branch string) *Source {
	t.Helper()
	s, err := newSource(Config{URL: "file://" + f.dir, Branch: branch, CacheDir: f.cache, Logger: testLogger(t)}, true)
	if err != nil {
		t.Fatal(err)
	}
	if s.Local() {
		t.Fatal("forced remote source reports Local")
	}
	return s
}

func fetchSHA(t *testing.T, s *Source) (Commit, string) {
	t.Helper()
	c, err := s.Fetch(context.Background())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return c, c.SHA
}

func TestRemoteCloneFetchAndForcePush(t *testing.T) {
	f := newRemoteFixture(t)
	c1 := commitOn(t, f.repo, "main", "first\n\nbody", testTime(0), map[string]fentry{"app/web.yaml": file("v1"), "README": file("r")})
	src := f.source(t, "main")

	// Clone.
	c, sha := fetchSHA(t, src)
	if sha != c1.String() || c.Subject != "first" || c.Author != "A U Thor <author@example.com>" || !c.Time.Equal(testTime(0)) {
		t.Fatalf("clone: got %s %q %q %v", sha, c.Subject, c.Author, c.Time)
	}
	if got := readAll(t, c); got["app/web.yaml"] != "v1" || got["README"] != "r" || len(got) != 2 {
		t.Fatalf("clone: files = %v", got)
	}
	entries, err := os.ReadDir(f.cache)
	if err != nil || len(entries) != 1 {
		t.Fatalf("cache dir holds %v (%v), want one clone", entries, err)
	}
	if _, err := git.PlainOpen(filepath.Join(f.cache, entries[0].Name())); err != nil {
		t.Fatalf("cache clone: %v", err)
	}

	steps := []struct {
		name string
		move func() plumbing.Hash
		want string
	}{
		{name: "nothing new", move: func() plumbing.Hash { return c1 }, want: "v1"},
		{name: "new commit", move: func() plumbing.Hash {
			return commitOn(t, f.repo, "main", "second", testTime(1), map[string]fentry{"app/web.yaml": file("v2"), "README": file("r")})
		}, want: "v2"},
		{name: "force push of unrelated history", move: func() plumbing.Hash {
			return setBranch(t, f.repo, "main", writeCommit(t, f.repo, nil, "rewritten", testTime(2), map[string]fentry{"app/web.yaml": file("v3"), "README": file("r")}))
		}, want: "v3"},
		{name: "reset to a commit fetched before", move: func() plumbing.Hash {
			return setBranch(t, f.repo, "main", c1)
		}, want: "v1"},
		{name: "amend on top of old commit", move: func() plumbing.Hash {
			return commitOn(t, f.repo, "main", "amended", testTime(3), map[string]fentry{"app/web.yaml": file("v4"), "README": file("r")})
		}, want: "v4"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			want := st.move()
			head, err := src.Head(context.Background())
			if err != nil || head != want.String() {
				t.Fatalf("Head = %s, %v; want %s", head, err, want)
			}
			c, sha := fetchSHA(t, src)
			if sha != want.String() {
				t.Fatalf("Fetch SHA = %s, want %s", sha, want)
			}
			if got := readAll(t, c)["app/web.yaml"]; got != st.want {
				t.Errorf("app/web.yaml = %q, want %q", got, st.want)
			}
		})
	}

	t.Run("unchanged fetch reuses commit", func(t *testing.T) {
		a, _ := fetchSHA(t, src)
		b, _ := fetchSHA(t, src)
		if a.Tree != b.Tree {
			t.Error("Fetch rebuilt the commit although the remote did not move")
		}
	})
	t.Run("new source reuses the clone", func(t *testing.T) {
		// A restarted process finds the commit in the cache and does not need to fetch.
		_, sha := fetchSHA(t, f.source(t, "main"))
		want, _ := f.repo.Storer.Reference(plumbing.NewBranchReferenceName("main"))
		if sha != want.Hash().String() {
			t.Errorf("SHA = %s, want %s", sha, want.Hash())
		}
	})
}

func TestRemoteBranches(t *testing.T) {
	f := newRemoteFixture(t)
	mainH := commitOn(t, f.repo, "main", "m", testTime(0), map[string]fentry{"f": file("main")})
	trunkH := commitOn(t, f.repo, "trunk", "t", testTime(1), map[string]fentry{"f": file("trunk")})
	tests := []struct {
		name    string
		head    plumbing.ReferenceName // where the server's HEAD points
		branch  string
		want    plumbing.Hash
		wantErr error
	}{
		{name: "explicit branch", head: "refs/heads/main", branch: "trunk", want: trunkH},
		{name: "default branch main", head: "refs/heads/main", want: mainH},
		{name: "default branch trunk", head: "refs/heads/trunk", want: trunkH},
		{name: "missing branch", head: "refs/heads/main", branch: "nope", wantErr: ErrNoBranch},
		{name: "HEAD names missing branch", head: "refs/heads/gone", wantErr: ErrNoBranch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := f.repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, tt.head)); err != nil {
				t.Fatal(err)
			}
			c, err := f.source(t, tt.branch).Fetch(context.Background())
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Fetch error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || c.SHA != tt.want.String() {
				t.Fatalf("Fetch = %s, %v; want %s", c.SHA, err, tt.want)
			}
			wantFile := map[plumbing.Hash]string{mainH: "main", trunkH: "trunk"}[tt.want]
			if got := readAll(t, c)["f"]; got != wantFile {
				t.Errorf("f = %q, want %q", got, wantFile)
			}
		})
	}
}

func TestRemoteErrors(t *testing.T) {
	emptyDir, _ := initRepo(t, true)
	tests := []struct {
		name    string
		url     string
		wantErr error
	}{
		{name: "no such repository", url: "file://" + filepath.Join(t.TempDir(), "missing"), wantErr: ErrUnreachable},
		{name: "empty repository", url: "file://" + emptyDir, wantErr: ErrNoBranch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := newSource(Config{URL: tt.url, Branch: "main", CacheDir: t.TempDir()}, true)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Fetch(context.Background()); !errors.Is(err, tt.wantErr) {
				t.Errorf("Fetch error = %v, want %v", err, tt.wantErr)
			}
			if _, err := s.Head(context.Background()); !errors.Is(err, tt.wantErr) {
				t.Errorf("Head error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// TestRemoteBrokenCache damages the cache clone in different ways; Fetch must
// clone again and succeed.
func TestRemoteBrokenCache(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{name: "garbage config", damage: func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "config"), []byte("[[[ not git config"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "objects deleted", damage: func(t *testing.T, dir string) {
			if err := os.RemoveAll(filepath.Join(dir, "objects")); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(dir, "objects"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "pack index deleted", damage: func(t *testing.T, dir string) {
			idx, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "*.idx"))
			if len(idx) == 0 {
				t.Fatal("no pack index in cache")
			}
			for _, p := range idx {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{name: "pack directory replaced by a file", damage: func(t *testing.T, dir string) {
			pack := filepath.Join(dir, "objects", "pack")
			if err := os.RemoveAll(pack); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(pack, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "clone of another url", damage: func(t *testing.T, dir string) {
			repo, err := git.PlainOpen(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := repo.DeleteRemote(remoteName); err != nil {
				t.Fatal(err)
			}
			if _, err := repo.CreateRemote(&config.RemoteConfig{Name: remoteName, URLs: []string{"https://elsewhere.example.com/x.git"}}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "not a directory", damage: func(t *testing.T, dir string) {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dir, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRemoteFixture(t)
			commitOn(t, f.repo, "main", "one", testTime(0), map[string]fentry{"a": file("1")})
			src := f.source(t, "main")
			fetchSHA(t, src)
			tt.damage(t, src.cache)
			want := commitOn(t, f.repo, "main", "two", testTime(1), map[string]fentry{"a": file("2")})
			c, sha := fetchSHA(t, src)
			if sha != want.String() || readAll(t, c)["a"] != "2" {
				t.Fatalf("after damage: SHA %s, files %v; want %s", sha, readAll(t, c), want)
			}
		})
	}
}

// TestRemoteShallowWithGitUploadPack swaps in go-git's default file transport,
// which runs git-upload-pack: that server supports shallow fetches, so the
// depth-1 clone and fetches are exercised (including a reset to a commit the
// shallow cache never saw).
func TestRemoteShallowWithGitUploadPack(t *testing.T) {
	if _, err := exec.LookPath("git-upload-pack"); err != nil {
		testenv.Need(t, testenv.Binary("git-upload-pack"))
	}
	client.InstallProtocol("file", gitfile.DefaultClient)
	t.Cleanup(func() {
		client.InstallProtocol("file", server.NewClient(server.NewFilesystemLoader(osfs.New("/"))))
	})
	f := newRemoteFixture(t)
	c1 := commitOn(t, f.repo, "main", "one", testTime(0), map[string]fentry{"a": file("1")})
	commitOn(t, f.repo, "main", "two", testTime(1), map[string]fentry{"a": file("2")})
	c3 := commitOn(t, f.repo, "main", "three", testTime(2), map[string]fentry{"a": file("3")})
	src := f.source(t, "main")
	c, sha := fetchSHA(t, src)
	if sha != c3.String() || readAll(t, c)["a"] != "3" {
		t.Fatalf("clone: %s %v", sha, readAll(t, c))
	}
	if _, err := os.Stat(filepath.Join(src.cache, "shallow")); err != nil {
		t.Errorf("cache clone is not shallow: %v", err)
	}
	steps := []struct {
		name string
		move func() plumbing.Hash
		want string
	}{
		{name: "new commit", move: func() plumbing.Hash {
			return commitOn(t, f.repo, "main", "four", testTime(3), map[string]fentry{"a": file("4")})
		}, want: "4"},
		{name: "force push", move: func() plumbing.Hash {
			return setBranch(t, f.repo, "main", writeCommit(t, f.repo, nil, "orphan", testTime(4), map[string]fentry{"a": file("5")}))
		}, want: "5"},
		{name: "reset to a commit never fetched", move: func() plumbing.Hash {
			return setBranch(t, f.repo, "main", c1)
		}, want: "1"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			want := st.move()
			c, sha := fetchSHA(t, src)
			if sha != want.String() || readAll(t, c)["a"] != st.want {
				t.Fatalf("Fetch = %s, files %v; want %s with a=%q", sha, readAll(t, c), want, st.want)
			}
		})
	}
}

func TestRemoteWatch(t *testing.T) {
	s, err := New(Config{URL: "https://git.example.com/x.git", CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Watch(context.Background(), func() {}); !errors.Is(err, ErrNotLocal) {
		t.Fatalf("Watch on remote source: %v, want ErrNotLocal", err)
	}
}
