package gitsource

import (
	"context"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// fentry is one path of a test commit.
type fentry struct {
	data string
	mode filemode.FileMode
	hash plumbing.Hash // submodules only
}

func file(data string) fentry   { return fentry{data: data, mode: filemode.Regular} }
func exe(data string) fentry    { return fentry{data: data, mode: filemode.Executable} }
func link(target string) fentry { return fentry{data: target, mode: filemode.Symlink} }
func submodule(h string) fentry { return fentry{mode: filemode.Submodule, hash: plumbing.NewHash(h)} }

// testTime is the author time of the n-th test commit.
func testTime(n int) time.Time {
	return time.Date(2026, 3, 1, 12, 0, n, 0, time.FixedZone("", 3600))
}

// initRepo makes an empty repository in a fresh temporary directory; HEAD names main.
func initRepo(t testing.TB, bare bool) (string, *git.Repository) {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		Bare:        bare,
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir, repo
}

func writeBlob(t testing.TB, sto storer.EncodedObjectStorer, data string) plumbing.Hash {
	t.Helper()
	obj := sto.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	w, err := obj.Writer()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	h, err := sto.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// writeTree stores files (slash-separated paths) as nested tree objects.
func writeTree(t testing.TB, sto storer.EncodedObjectStorer, files map[string]fentry) plumbing.Hash {
	t.Helper()
	var entries []object.TreeEntry
	sub := map[string]map[string]fentry{}
	for p, f := range files {
		first, rest, nested := strings.Cut(p, "/")
		if nested {
			if sub[first] == nil {
				sub[first] = map[string]fentry{}
			}
			sub[first][rest] = f
			continue
		}
		h := f.hash
		if f.mode != filemode.Submodule {
			h = writeBlob(t, sto, f.data)
		}
		entries = append(entries, object.TreeEntry{Name: first, Mode: f.mode, Hash: h})
	}
	for name, m := range sub {
		entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: writeTree(t, sto, m)})
	}
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	slices.SortFunc(entries, func(a, b object.TreeEntry) int { return strings.Compare(key(a), key(b)) })
	obj := sto.NewEncodedObject()
	if err := (&object.Tree{Entries: entries}).Encode(obj); err != nil {
		t.Fatal(err)
	}
	h, err := sto.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// writeCommit stores a commit of files with the given parents; it moves no ref.
func writeCommit(t testing.TB, repo *git.Repository, parents []plumbing.Hash, msg string, when time.Time, files map[string]fentry) plumbing.Hash {
	t.Helper()
	sig := object.Signature{Name: "A U Thor", Email: "author@example.com", When: when}
	c := &object.Commit{
		Author:       sig,
		Committer:    object.Signature{Name: "C O Mitter", Email: "committer@example.com", When: when.Add(time.Minute)},
		Message:      msg,
		TreeHash:     writeTree(t, repo.Storer, files),
		ParentHashes: parents,
	}
	obj := repo.Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		t.Fatal(err)
	}
	h, err := repo.Storer.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// setBranch points branch at h and returns h.
func setBranch(t testing.TB, repo *git.Repository, branch string, h plumbing.Hash) plumbing.Hash {
	t.Helper()
	if err := repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName(branch), h)); err != nil {
		t.Fatal(err)
	}
	return h
}

// commitOn commits files on top of branch (or as its first commit) and moves it.
func commitOn(t testing.TB, repo *git.Repository, branch, msg string, when time.Time, files map[string]fentry) plumbing.Hash {
	t.Helper()
	var parents []plumbing.Hash
	if ref, err := repo.Storer.Reference(plumbing.NewBranchReferenceName(branch)); err == nil {
		parents = []plumbing.Hash{ref.Hash()}
	}
	return setBranch(t, repo, branch, writeCommit(t, repo, parents, msg, when, files))
}

// mainSource is a Source for branch main of the repository at dir.
func mainSource(t testing.TB, dir string) *Source {
	t.Helper()
	src, err := New(Config{URL: dir, Branch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// mustFetch fetches src's branch.
func mustFetch(t testing.TB, src *Source) Commit {
	t.Helper()
	c, err := src.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// readAll reads every regular file of fsys.
func readAll(t testing.TB, c Commit) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := walkFiles(c, func(p string, data []byte) { got[p] = string(data) })
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func walkFiles(c Commit, f func(string, []byte)) error {
	return fs.WalkDir(c.Tree, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := fs.ReadFile(c.Tree, p)
		if err != nil {
			return err
		}
		f(p, data)
		return nil
	})
}

// testLogger sends a Source's log lines to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tLogWriter struct{ t testing.TB }

func (w tLogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
