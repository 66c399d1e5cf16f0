package gitwrite

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// FS returns a read-only view of the tree as it is now (the branch head
// plus the edits made so far), for reading it the way sync reads a commit:
// a renderer working out which file to edit reads the tree through it.
// Symbolic links are listed with fs.ModeSymlink and not followed (opening
// one is an error), submodules are irregular files that cannot be opened.
// The view reads the Tree lazily: use it within the edit function only.
func (t *Tree) FS() fs.FS { return treeView{t} }

// treeView is the fs.FS of Tree.FS.
type treeView struct{ t *Tree }

var (
	_ fs.ReadFileFS = treeView{}
	_ fs.ReadDirFS  = treeView{}
	_ fs.StatFS     = treeView{}
)

// entryAt returns the entry at name; the root is a directory entry.
func (v treeView) entryAt(op, name string) (*entry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return &entry{mode: filemode.Dir, sub: v.t.root}, nil
	}
	_, _, e, err := v.t.lookup(name, false)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	if e == nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return e, nil
}

func (v treeView) Open(name string) (fs.File, error) {
	e, err := v.entryAt("open", name)
	if err != nil {
		return nil, err
	}
	info := viewInfo{name: baseName(name), e: e}
	if e.sub != nil {
		list, err := v.list("open", name, e.sub)
		if err != nil {
			return nil, err
		}
		return &viewDir{info: info, entries: list}, nil
	}
	data, err := v.data("open", name, e)
	if err != nil {
		return nil, err
	}
	info.size = int64(len(data))
	return &viewFile{info: info, r: bytes.NewReader(data)}, nil
}

func (v treeView) ReadFile(name string) ([]byte, error) {
	e, err := v.entryAt("read", name)
	if err != nil {
		return nil, err
	}
	if e.sub != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errIsDir}
	}
	return v.data("read", name, e)
}

func (v treeView) ReadDir(name string) ([]fs.DirEntry, error) {
	e, err := v.entryAt("readdir", name)
	if err != nil {
		return nil, err
	}
	if e.sub == nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errNotDir}
	}
	return v.list("readdir", name, e.sub)
}

func (v treeView) Stat(name string) (fs.FileInfo, error) {
	e, err := v.entryAt("stat", name)
	if err != nil {
		return nil, err
	}
	info := viewInfo{name: baseName(name), e: e}
	if e.sub == nil && e.mode.IsFile() {
		data, err := v.data("stat", name, e)
		if err != nil {
			return nil, err
		}
		info.size = int64(len(data))
	}
	return info, nil
}

// data reads a regular file's blob; links and submodules are refused.
func (v treeView) data(op, name string, e *entry) ([]byte, error) {
	if e.mode == filemode.Symlink || e.mode == filemode.Submodule {
		return nil, &fs.PathError{Op: op, Path: name, Err: errNotRegular}
	}
	b, err := readBlob(v.t.sto, e.hash)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return b, nil
}

// list returns a directory's entries sorted by name.
func (v treeView) list(op, name string, d *dir) ([]fs.DirEntry, error) {
	if err := d.load(v.t.sto); err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	out := make([]fs.DirEntry, 0, len(d.entries))
	for n, e := range d.entries {
		out = append(out, viewEntry{v: v, dir: name, info: viewInfo{name: n, e: e}})
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// viewEntry is a directory entry; Info reads the file's size.
type viewEntry struct {
	v    treeView
	dir  string
	info viewInfo
}

func (d viewEntry) Name() string      { return d.info.name }
func (d viewEntry) IsDir() bool       { return d.info.IsDir() }
func (d viewEntry) Type() fs.FileMode { return d.info.Mode().Type() }
func (d viewEntry) Info() (fs.FileInfo, error) {
	p := d.info.name
	if d.dir != "." {
		p = d.dir + "/" + p
	}
	return d.v.Stat(p)
}

// viewInfo is the fs.FileInfo of an entry.
type viewInfo struct {
	name string
	e    *entry
	size int64
}

func (i viewInfo) Name() string { return i.name }
func (i viewInfo) Size() int64  { return i.size }
func (i viewInfo) Mode() fs.FileMode {
	switch {
	case i.e.sub != nil:
		return fs.ModeDir | 0o755
	case i.e.mode == filemode.Symlink:
		return fs.ModeSymlink | 0o777
	case i.e.mode == filemode.Executable:
		return 0o755
	case i.e.mode == filemode.Submodule:
		return fs.ModeIrregular
	}
	return 0o644
}
func (i viewInfo) ModTime() time.Time { return time.Time{} }
func (i viewInfo) IsDir() bool        { return i.e.sub != nil }
func (i viewInfo) Sys() any           { return nil }

// viewFile is an open regular file.
type viewFile struct {
	info viewInfo
	r    *bytes.Reader
}

func (f *viewFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *viewFile) Read(b []byte) (int, error) { return f.r.Read(b) }
func (f *viewFile) Close() error               { return nil }

// viewDir is an open directory.
type viewDir struct {
	info    viewInfo
	entries []fs.DirEntry
	off     int
}

func (d *viewDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *viewDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errIsDir}
}
func (d *viewDir) Close() error { return nil }

// ReadDir implements fs.ReadDirFile.
func (d *viewDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.off += n
	return rest[:n], nil
}

var (
	errIsDir      = errors.New("is a directory")
	errNotDir     = errors.New("not a directory")
	errNotRegular = errors.New("not a regular file (a symbolic link or submodule)")
)
