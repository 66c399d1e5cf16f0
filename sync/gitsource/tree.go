package gitsource

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// maxLinkHops bounds how many symbolic links one lookup follows (as Linux's 40).
const maxLinkHops = 40

var (
	errLinkOutside = errors.New("symbolic link leaves the tree")
	errLinkLoop    = errors.New("too many levels of symbolic links")
	errIsDir       = errors.New("is a directory")
	errNotDir      = errors.New("not a directory")
)

// objects reads git objects for a tree view. go-git's storage is not safe for
// concurrent use, so every access holds mu. When a read fails (for instance
// because "git gc" replaced the pack files the storage had indexed), the storage
// is reopened once and the read retried.
type objects struct {
	mu     sync.Mutex
	sto    storer.EncodedObjectStorer
	reopen func() (storer.EncodedObjectStorer, error)
	trees  map[plumbing.Hash]*object.Tree
}

func newObjects(sto storer.EncodedObjectStorer, reopen func() (storer.EncodedObjectStorer, error)) *objects {
	return &objects{sto: sto, reopen: reopen, trees: make(map[plumbing.Hash]*object.Tree)}
}

// retry runs f and, if it fails, reopens the storage and runs f once more.
// The caller holds o.mu.
func (o *objects) retry(f func(storer.EncodedObjectStorer) error) error {
	err := f(o.sto)
	if err == nil || o.reopen == nil {
		return err
	}
	sto, rerr := o.reopen()
	if rerr != nil {
		return err
	}
	o.sto = sto
	return f(sto)
}

func (o *objects) tree(h plumbing.Hash) (*object.Tree, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if t, ok := o.trees[h]; ok {
		return t, nil
	}
	var t *object.Tree
	err := o.retry(func(sto storer.EncodedObjectStorer) error {
		var err error
		t, err = object.GetTree(sto, h)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read tree %s: %w", h, err)
	}
	o.trees[h] = t
	return t, nil
}

// blob returns a fresh copy of a blob's content.
func (o *objects) blob(h plumbing.Hash) ([]byte, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var data []byte
	err := o.retry(func(sto storer.EncodedObjectStorer) error {
		obj, err := sto.EncodedObject(plumbing.BlobObject, h)
		if err != nil {
			return err
		}
		r, err := obj.Reader()
		if err != nil {
			return err
		}
		defer r.Close()
		data, err = io.ReadAll(r)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	return data, nil
}

func (o *objects) blobSize(h plumbing.Hash) (int64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var size int64
	err := o.retry(func(sto storer.EncodedObjectStorer) error {
		obj, err := sto.EncodedObject(plumbing.BlobObject, h)
		if err != nil {
			return err
		}
		size = obj.Size()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("read blob %s: %w", h, err)
	}
	return size, nil
}

// treeFS is the fs.FS over one commit's tree.
type treeFS struct {
	objs    *objects
	root    plumbing.Hash
	modTime time.Time // every entry reports the commit's time
}

var (
	_ fs.ReadFileFS = (*treeFS)(nil)
	_ fs.ReadDirFS  = (*treeFS)(nil)
	_ fs.StatFS     = (*treeFS)(nil)
	_ fs.ReadLinkFS = (*treeFS)(nil)
)

// node is a resolved tree entry.
type node struct {
	name string // base name as the caller spelled it ("." for the root)
	mode filemode.FileMode
	hash plumbing.Hash
}

func splitPath(p string) []string {
	if p == "." || p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func findEntry(t *object.Tree, name string) (object.TreeEntry, bool) {
	for _, e := range t.Entries {
		if e.Name == name {
			return e, true
		}
	}
	return object.TreeEntry{}, false
}

// resolve looks name up from the root. Symbolic links in directory components are
// always followed, the last component's only when followLast is set. Links must
// be relative and stay inside the tree.
func (t *treeFS) resolve(op, name string, followLast bool) (node, error) {
	if !fs.ValidPath(name) {
		return node{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	fail := func(err error) (node, error) {
		return node{}, &fs.PathError{Op: op, Path: name, Err: err}
	}
	comps := splitPath(name)
	var dir []string // components of the directory being searched
	cur := t.root
	hops := 0
	for i := 0; i < len(comps); {
		tr, err := t.objs.tree(cur)
		if err != nil {
			return fail(err)
		}
		e, ok := findEntry(tr, comps[i])
		if !ok {
			return fail(fs.ErrNotExist)
		}
		last := i == len(comps)-1
		if e.Mode == filemode.Symlink && (!last || followLast) {
			if hops++; hops > maxLinkHops {
				return fail(errLinkLoop)
			}
			data, err := t.objs.blob(e.Hash)
			if err != nil {
				return fail(err)
			}
			target := string(data)
			if target == "" {
				return fail(fs.ErrNotExist)
			}
			if path.IsAbs(target) {
				return fail(errLinkOutside)
			}
			joined := path.Join(strings.Join(dir, "/"), target)
			if joined == ".." || strings.HasPrefix(joined, "../") {
				return fail(errLinkOutside)
			}
			comps = append(splitPath(joined), comps[i+1:]...)
			dir, cur, i = nil, t.root, 0
			continue
		}
		if last {
			return node{name: path.Base(name), mode: e.Mode, hash: e.Hash}, nil
		}
		if e.Mode != filemode.Dir {
			return fail(errNotDir)
		}
		dir = append(dir, comps[i])
		cur = e.Hash
		i++
	}
	return node{name: path.Base(name), mode: filemode.Dir, hash: cur}, nil
}

// fsMode maps a git file mode to an fs.FileMode.
func fsMode(m filemode.FileMode) fs.FileMode {
	switch m {
	case filemode.Dir:
		return fs.ModeDir | 0o755
	case filemode.Regular, filemode.Deprecated:
		return 0o644
	case filemode.Executable:
		return 0o755
	case filemode.Symlink:
		return fs.ModeSymlink | 0o777
	default: // filemode.Submodule and anything unknown
		return fs.ModeIrregular
	}
}

// info builds the FileInfo of a node; size is read from the object database for
// files and links.
func (t *treeFS) info(op, p string, n node) (*fileInfo, error) {
	fi := &fileInfo{name: n.name, mode: fsMode(n.mode), modTime: t.modTime}
	if n.mode.IsFile() {
		size, err := t.objs.blobSize(n.hash)
		if err != nil {
			return nil, &fs.PathError{Op: op, Path: p, Err: err}
		}
		fi.size = size
	}
	return fi, nil
}

// entries lists a directory sorted by name.
func (t *treeFS) entries(op, p string, h plumbing.Hash) ([]fs.DirEntry, error) {
	tr, err := t.objs.tree(h)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: p, Err: err}
	}
	list := make([]fs.DirEntry, 0, len(tr.Entries))
	for _, e := range tr.Entries {
		list = append(list, &dirEntry{fsys: t, dir: p, n: node{name: e.Name, mode: e.Mode, hash: e.Hash}})
	}
	slices.SortFunc(list, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return list, nil
}

// Open opens a file or directory, following symbolic links inside the tree.
func (t *treeFS) Open(name string) (fs.File, error) {
	n, err := t.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	switch {
	case n.mode == filemode.Dir:
		list, err := t.entries("open", name, n.hash)
		if err != nil {
			return nil, err
		}
		return &dirFile{path: name, info: &fileInfo{name: n.name, mode: fsMode(n.mode), modTime: t.modTime}, list: list}, nil
	case n.mode.IsFile():
		data, err := t.objs.blob(n.hash)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		fi := &fileInfo{name: n.name, mode: fsMode(n.mode), size: int64(len(data)), modTime: t.modTime}
		return &blobFile{Reader: bytes.NewReader(data), info: fi}, nil
	default: // submodule: an irregular entry without content
		fi := &fileInfo{name: n.name, mode: fsMode(n.mode), modTime: t.modTime}
		return &blobFile{Reader: bytes.NewReader(nil), info: fi}, nil
	}
}

// ReadFile returns the content of a file, following symbolic links inside the tree.
func (t *treeFS) ReadFile(name string) ([]byte, error) {
	n, err := t.resolve("read", name, true)
	if err != nil {
		return nil, err
	}
	switch {
	case n.mode == filemode.Dir:
		return nil, &fs.PathError{Op: "read", Path: name, Err: errIsDir}
	case n.mode.IsFile():
		data, err := t.objs.blob(n.hash)
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: name, Err: err}
		}
		return data, nil
	default:
		return []byte{}, nil
	}
}

// ReadDir lists a directory sorted by name; entries keep their own type
// (symbolic links are not followed).
func (t *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	n, err := t.resolve("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if n.mode != filemode.Dir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errNotDir}
	}
	return t.entries("readdir", name, n.hash)
}

// Stat describes a file, following symbolic links inside the tree.
func (t *treeFS) Stat(name string) (fs.FileInfo, error) {
	n, err := t.resolve("stat", name, true)
	if err != nil {
		return nil, err
	}
	return t.info("stat", name, n)
}

// Lstat describes a file without following a final symbolic link.
func (t *treeFS) Lstat(name string) (fs.FileInfo, error) {
	n, err := t.resolve("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return t.info("lstat", name, n)
}

// ReadLink returns the target of a symbolic link as stored in the commit.
func (t *treeFS) ReadLink(name string) (string, error) {
	n, err := t.resolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	if n.mode != filemode.Symlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	data, err := t.objs.blob(n.hash)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return string(data), nil
}

// fileInfo implements fs.FileInfo.
type fileInfo struct {
	name    string
	mode    fs.FileMode
	size    int64
	modTime time.Time
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.size }
func (fi *fileInfo) Mode() fs.FileMode  { return fi.mode }
func (fi *fileInfo) ModTime() time.Time { return fi.modTime }
func (fi *fileInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi *fileInfo) Sys() any           { return nil }

// dirEntry implements fs.DirEntry; Info reads the size lazily.
type dirEntry struct {
	fsys *treeFS
	dir  string
	n    node
}

func (d *dirEntry) Name() string      { return d.n.name }
func (d *dirEntry) IsDir() bool       { return d.n.mode == filemode.Dir }
func (d *dirEntry) Type() fs.FileMode { return fsMode(d.n.mode).Type() }
func (d *dirEntry) Info() (fs.FileInfo, error) {
	return d.fsys.info("stat", path.Join(d.dir, d.n.name), d.n)
}
func (d *dirEntry) String() string { return fs.FormatDirEntry(d) }

// blobFile is an open blob (or submodule entry).
type blobFile struct {
	*bytes.Reader
	info *fileInfo
}

func (f *blobFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *blobFile) Close() error               { return nil }

// dirFile is an open directory.
type dirFile struct {
	path string
	info *fileInfo
	list []fs.DirEntry
	off  int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Close() error               { return nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.path, Err: errIsDir}
}

// ReadDir implements fs.ReadDirFile.
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.list[d.off:]
	if n <= 0 {
		d.off = len(d.list)
		return slices.Clone(rest), nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.off += n
	return slices.Clone(rest[:n]), nil
}
