package gitsource

import (
	"errors"
	"io"
	"io/fs"
	"slices"
	"testing"
	"testing/fstest"
)

// fetchTree commits files to a fresh repository and returns the fetched tree.
func fetchTree(t *testing.T, files map[string]fentry) fs.FS {
	t.Helper()
	dir, repo := initRepo(t, false)
	commitOn(t, repo, "main", "tree", testTime(0), files)
	src := mainSource(t, dir)
	c := mustFetch(t, src)
	return c.Tree
}

func TestTreeFSConformance(t *testing.T) {
	tree := fetchTree(t, map[string]fentry{
		"a.yaml":            file("kind: A\n"),
		"dir/b.yaml":        file("kind: B\n"),
		"dir/sub/c.txt":     file("c"),
		"dir/empty":         file(""),
		"bin/run.sh":        exe("#!/bin/sh\necho hi\n"),
		"link-to-file":      link("dir/b.yaml"),
		"dir/up-link":       link("../a.yaml"),
		"dir-link":          link("dir"),
		"dir/sub/chain":     link("../../link-to-file"),
		"vendor/module":     submodule("0123456789abcdef0123456789abcdef01234567"),
		"z/deep/er/file.md": file("deep"),
	})
	if err := fstest.TestFS(tree, "a.yaml", "dir/b.yaml", "dir/sub/c.txt", "dir/empty", "bin/run.sh",
		"link-to-file", "dir/up-link", "dir-link", "dir/sub/chain", "vendor/module", "z/deep/er/file.md"); err != nil {
		t.Fatal(err)
	}
}

func TestTreeFSLinksAndModes(t *testing.T) {
	tree := fetchTree(t, map[string]fentry{
		"a.yaml":         file("kind: A\n"),
		"dir/b.yaml":     file("kind: B\n"),
		"bin/run.sh":     exe("#!/bin/sh\n"),
		"link":           link("dir/b.yaml"),
		"dir/up":         link("../a.yaml"),
		"dir-link":       link("dir"),
		"escape":         link("../../etc/passwd"),
		"dir/escape":     link("../.."),
		"absolute":       link("/etc/passwd"),
		"loop1":          link("loop2"),
		"loop2":          link("loop1"),
		"dangling":       link("nowhere"),
		"vendor/module":  submodule("0123456789abcdef0123456789abcdef01234567"),
		"through-escape": link("escape/x"),
	})
	rl := tree.(fs.ReadLinkFS)

	readTests := []struct {
		name    string
		path    string
		want    string
		wantErr error // nil: success; otherwise errors.Is target
		anyErr  bool
	}{
		{name: "plain file", path: "a.yaml", want: "kind: A\n"},
		{name: "link to file", path: "link", want: "kind: B\n"},
		{name: "relative link upwards", path: "dir/up", want: "kind: A\n"},
		{name: "through directory link", path: "dir-link/b.yaml", want: "kind: B\n"},
		{name: "link through directory link", path: "dir-link/up", want: "kind: A\n"},
		{name: "link leaving the tree", path: "escape", wantErr: errLinkOutside},
		{name: "link to parent of root", path: "dir/escape", wantErr: errLinkOutside},
		{name: "absolute link", path: "absolute", wantErr: errLinkOutside},
		{name: "path through escaping link", path: "through-escape", wantErr: errLinkOutside},
		{name: "link loop", path: "loop1", wantErr: errLinkLoop},
		{name: "dangling link", path: "dangling", wantErr: fs.ErrNotExist},
		{name: "missing file", path: "nope.yaml", wantErr: fs.ErrNotExist},
		{name: "file used as directory", path: "a.yaml/x", anyErr: true},
		{name: "directory", path: "dir", anyErr: true},
		{name: "invalid path", path: "../a.yaml", wantErr: fs.ErrInvalid},
		{name: "submodule has no content", path: "vendor/module", want: ""},
	}
	for _, tt := range readTests {
		t.Run("ReadFile/"+tt.name, func(t *testing.T) {
			got, err := fs.ReadFile(tree, tt.path)
			if tt.wantErr != nil || tt.anyErr {
				var pe *fs.PathError
				if err == nil || !errors.As(err, &pe) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("ReadFile(%q) = %q, %v; want *fs.PathError wrapping %v", tt.path, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("ReadFile(%q) = %q, %v; want %q", tt.path, got, err, tt.want)
			}
			// Open+Read agrees with ReadFile.
			f, err := tree.Open(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			data, err := io.ReadAll(f)
			if err != nil || string(data) != tt.want {
				t.Fatalf("Open+ReadAll(%q) = %q, %v", tt.path, data, err)
			}
		})
	}

	modeTests := []struct {
		path      string
		lstatMode fs.FileMode
		statMode  fs.FileMode // 0: Stat must fail
		target    string      // ReadLink result; "" means ReadLink must fail
	}{
		{path: "a.yaml", lstatMode: 0o644, statMode: 0o644},
		{path: "bin/run.sh", lstatMode: 0o755, statMode: 0o755},
		{path: "dir", lstatMode: fs.ModeDir | 0o755, statMode: fs.ModeDir | 0o755},
		{path: "link", lstatMode: fs.ModeSymlink | 0o777, statMode: 0o644, target: "dir/b.yaml"},
		{path: "dir-link", lstatMode: fs.ModeSymlink | 0o777, statMode: fs.ModeDir | 0o755, target: "dir"},
		{path: "dir-link/up", lstatMode: fs.ModeSymlink | 0o777, statMode: 0o644, target: "../a.yaml"},
		{path: "escape", lstatMode: fs.ModeSymlink | 0o777, target: "../../etc/passwd"},
		{path: "vendor/module", lstatMode: fs.ModeIrregular, statMode: fs.ModeIrregular},
	}
	for _, tt := range modeTests {
		t.Run("modes/"+tt.path, func(t *testing.T) {
			li, err := rl.Lstat(tt.path)
			if err != nil || li.Mode() != tt.lstatMode {
				t.Fatalf("Lstat(%q) mode = %v, %v; want %v", tt.path, modeOf(li), err, tt.lstatMode)
			}
			si, err := fs.Stat(tree, tt.path)
			if tt.statMode == 0 {
				if err == nil {
					t.Errorf("Stat(%q) succeeded, want error", tt.path)
				}
			} else if err != nil || si.Mode() != tt.statMode {
				t.Errorf("Stat(%q) mode = %v, %v; want %v", tt.path, modeOf(si), err, tt.statMode)
			}
			target, err := rl.ReadLink(tt.path)
			if tt.target == "" {
				if !errors.Is(err, fs.ErrInvalid) {
					t.Errorf("ReadLink(%q) = %q, %v; want fs.ErrInvalid", tt.path, target, err)
				}
			} else if err != nil || target != tt.target {
				t.Errorf("ReadLink(%q) = %q, %v; want %q", tt.path, target, err, tt.target)
			}
			if li.Mode()&fs.ModeSymlink != 0 && li.Size() != int64(len(tt.target)) {
				t.Errorf("Lstat(%q).Size() = %d, want %d", tt.path, li.Size(), len(tt.target))
			}
		})
	}

	t.Run("ReadDir sorted with entry types", func(t *testing.T) {
		list, err := fs.ReadDir(tree, ".")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		types := map[string]fs.FileMode{}
		for _, e := range list {
			names = append(names, e.Name())
			types[e.Name()] = e.Type()
		}
		if !slices.IsSorted(names) {
			t.Errorf("ReadDir not sorted: %v", names)
		}
		want := map[string]fs.FileMode{"a.yaml": 0, "dir": fs.ModeDir, "link": fs.ModeSymlink, "dir-link": fs.ModeSymlink, "vendor": fs.ModeDir}
		for name, typ := range want {
			if got, ok := types[name]; !ok || got != typ {
				t.Errorf("ReadDir entry %q type = %v (present %v), want %v", name, got, ok, typ)
			}
		}
		sub, err := fs.ReadDir(tree, "vendor")
		if err != nil || len(sub) != 1 || sub[0].Type() != fs.ModeIrregular {
			t.Errorf("ReadDir(vendor) = %v, %v; want one irregular entry", sub, err)
		}
		// ReadDir through a directory link lists the target.
		viaLink, err := fs.ReadDir(tree, "dir-link")
		direct, err2 := fs.ReadDir(tree, "dir")
		if err != nil || err2 != nil || len(viaLink) != len(direct) {
			t.Errorf("ReadDir(dir-link) = %d entries, %v; ReadDir(dir) = %d, %v", len(viaLink), err, len(direct), err2)
		}
		if _, err := fs.ReadDir(tree, "a.yaml"); err == nil {
			t.Error("ReadDir on a file succeeded")
		}
	})

	t.Run("Sub", func(t *testing.T) {
		sub, err := fs.Sub(tree, "dir")
		if err != nil {
			t.Fatal(err)
		}
		if data, err := fs.ReadFile(sub, "b.yaml"); err != nil || string(data) != "kind: B\n" {
			t.Errorf("Sub(dir).ReadFile(b.yaml) = %q, %v", data, err)
		}
	})
}

func modeOf(fi fs.FileInfo) any {
	if fi == nil {
		return nil
	}
	return fi.Mode()
}
