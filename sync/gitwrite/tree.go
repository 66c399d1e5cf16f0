package gitwrite

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Tree is the file tree of the commit being written, as an edit function
// sees it: the head of the branch plus the edits made so far. Paths are
// slash-separated and relative to the repository root ("apps/web.yaml").
// Edits are kept in memory and become blob and tree objects when the commit
// is written; nothing is checked out. A Tree is not safe for concurrent use.
type Tree struct {
	sto  storer.EncodedObjectStorer
	root *dir
}

// dir is one directory of a Tree, read lazily from its tree object.
type dir struct {
	hash    plumbing.Hash // tree object it was read from (zero: new)
	entries map[string]*entry
	loaded  bool
	dirty   bool
}

// entry is a file (or symlink, or submodule) or a subdirectory.
type entry struct {
	mode filemode.FileMode
	hash plumbing.Hash // blob (or commit, for submodules)
	sub  *dir          // directories only
}

// newTree returns a Tree over the tree object h (zero hash: empty).
func newTree(sto storer.EncodedObjectStorer, h plumbing.Hash) *Tree {
	return &Tree{sto: sto, root: &dir{hash: h, loaded: h.IsZero(), entries: map[string]*entry{}}}
}

func (d *dir) load(sto storer.EncodedObjectStorer) error {
	if d.loaded {
		return nil
	}
	t, err := object.GetTree(sto, d.hash)
	if err != nil {
		return fmt.Errorf("read tree %s: %w", d.hash, err)
	}
	for _, e := range t.Entries {
		en := &entry{mode: e.Mode, hash: e.Hash}
		if e.Mode == filemode.Dir {
			en.sub = &dir{hash: e.Hash, entries: map[string]*entry{}}
		}
		d.entries[e.Name] = en
	}
	d.loaded = true
	return nil
}

// cleanPath checks a repository-relative slash path.
func cleanPath(p string) (string, error) {
	if p == "" || strings.HasPrefix(p, "/") || path.Clean(p) != p || p == "." || strings.HasPrefix(p, "../") || p == ".." {
		return "", fmt.Errorf("gitwrite: %q is not a clean path relative to the repository root", p)
	}
	for _, part := range strings.Split(p, "/") {
		if strings.EqualFold(part, ".git") {
			return "", fmt.Errorf("gitwrite: %q: paths inside .git cannot be written", p)
		}
	}
	return p, nil
}

// lookup returns the entry at p, or nil. With create, missing directories
// are made (and marked dirty) on the way.
func (t *Tree) lookup(p string, create bool) (*dir, string, *entry, error) {
	parts := strings.Split(p, "/")
	d := t.root
	var trail []*dir
	for i, name := range parts {
		if err := d.load(t.sto); err != nil {
			return nil, "", nil, err
		}
		if i == len(parts)-1 {
			if create {
				for _, td := range append(trail, d) {
					td.dirty = true
				}
			}
			return d, name, d.entries[name], nil
		}
		e := d.entries[name]
		switch {
		case e == nil && create:
			e = &entry{mode: filemode.Dir, sub: &dir{loaded: true, entries: map[string]*entry{}}}
			d.entries[name] = e
		case e == nil:
			return nil, "", nil, nil
		case e.sub == nil:
			if create {
				return nil, "", nil, fmt.Errorf("gitwrite: %s: %s is a file, not a directory", p, strings.Join(parts[:i+1], "/"))
			}
			return nil, "", nil, nil
		}
		trail = append(trail, d)
		d = e.sub
	}
	return nil, "", nil, nil
}

// ReadFile returns the content of the file at p. A missing file gives an
// error wrapping fs.ErrNotExist; a directory or submodule is an error.
// Symbolic links are not followed: their target is returned.
func (t *Tree) ReadFile(p string) ([]byte, error) {
	p, err := cleanPath(p)
	if err != nil {
		return nil, err
	}
	_, _, e, err := t.lookup(p, false)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, fmt.Errorf("gitwrite: read %s: %w", p, fs.ErrNotExist)
	}
	if e.sub != nil || e.mode == filemode.Submodule {
		return nil, fmt.Errorf("gitwrite: read %s: not a file", p)
	}
	return readBlob(t.sto, e.hash)
}

// Exists reports whether p names a file, symlink, submodule or directory.
func (t *Tree) Exists(p string) bool {
	p, err := cleanPath(p)
	if err != nil {
		return false
	}
	_, _, e, err := t.lookup(p, false)
	return err == nil && e != nil
}

// WriteFile creates or replaces the file at p with data, creating parent
// directories. An executable file stays executable; anything else becomes a
// regular file.
func (t *Tree) WriteFile(p string, data []byte) error {
	p, err := cleanPath(p)
	if err != nil {
		return err
	}
	h, err := writeBlob(t.sto, data)
	if err != nil {
		return fmt.Errorf("gitwrite: write %s: %w", p, err)
	}
	_, _, old, err := t.lookup(p, false)
	if err != nil {
		return err
	}
	mode := filemode.Regular
	if old != nil && old.sub != nil {
		return fmt.Errorf("gitwrite: write %s: is a directory", p)
	}
	if old != nil && old.mode == filemode.Executable {
		mode = filemode.Executable
	}
	return t.set(p, mode, h)
}

// Remove deletes the file at p. A missing file gives an error wrapping
// fs.ErrNotExist. Directories left empty disappear, as Git cannot store them.
func (t *Tree) Remove(p string) error {
	p, err := cleanPath(p)
	if err != nil {
		return err
	}
	_, _, e, err := t.lookup(p, false)
	if err != nil {
		return err
	}
	if e == nil {
		return fmt.Errorf("gitwrite: remove %s: %w", p, fs.ErrNotExist)
	}
	if e.sub != nil {
		return fmt.Errorf("gitwrite: remove %s: is a directory", p)
	}
	d, name, _, err := t.lookup(p, true)
	if err != nil {
		return err
	}
	delete(d.entries, name)
	return nil
}

// set puts a blob (or submodule) entry at p.
func (t *Tree) set(p string, mode filemode.FileMode, h plumbing.Hash) error {
	d, name, old, err := t.lookup(p, true)
	if err != nil {
		return err
	}
	if old != nil && old.sub != nil {
		return fmt.Errorf("gitwrite: write %s: is a directory", p)
	}
	d.entries[name] = &entry{mode: mode, hash: h}
	return nil
}

// entryAt returns mode and hash of the non-directory entry at p (ok false
// when absent or a directory).
func (t *Tree) entryAt(p string) (filemode.FileMode, plumbing.Hash, bool, error) {
	_, _, e, err := t.lookup(p, false)
	if err != nil || e == nil || e.sub != nil {
		return 0, plumbing.ZeroHash, false, err
	}
	return e.mode, e.hash, true, nil
}

// write stores the edited directories as tree objects and returns the root
// tree's hash.
func (t *Tree) write() (plumbing.Hash, error) {
	h, _, err := writeDir(t.sto, t.root)
	return h, err
}

// writeDir writes d when it changed; empty reports a directory with no
// entries (left out of its parent).
func writeDir(sto storer.EncodedObjectStorer, d *dir) (plumbing.Hash, bool, error) {
	if !d.dirty {
		return d.hash, false, nil
	}
	var entries []object.TreeEntry
	for name, e := range d.entries {
		if e.sub != nil {
			h, empty, err := writeDir(sto, e.sub)
			if err != nil {
				return plumbing.ZeroHash, false, err
			}
			if empty {
				continue
			}
			entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h})
			continue
		}
		entries = append(entries, object.TreeEntry{Name: name, Mode: e.mode, Hash: e.hash})
	}
	if len(entries) == 0 {
		return plumbing.ZeroHash, true, nil
	}
	// Git sorts tree entries by name, directories as if followed by "/".
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	slices.SortFunc(entries, func(a, b object.TreeEntry) int { return strings.Compare(key(a), key(b)) })
	obj := sto.NewEncodedObject()
	if err := (&object.Tree{Entries: entries}).Encode(obj); err != nil {
		return plumbing.ZeroHash, false, err
	}
	h, err := sto.SetEncodedObject(obj)
	if err != nil {
		return plumbing.ZeroHash, false, err
	}
	return h, false, nil
}

// emptyTreeHash is Git's empty tree object.
var emptyTreeHash = plumbing.NewHash("4b825dc642cb6eb9a060e54bf8d69288fbee4904")

// writeEmptyTree stores the empty tree (for a commit that removes every file).
func writeEmptyTree(sto storer.EncodedObjectStorer) (plumbing.Hash, error) {
	obj := sto.NewEncodedObject()
	if err := (&object.Tree{}).Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return sto.SetEncodedObject(obj)
}

func writeBlob(sto storer.EncodedObjectStorer, data []byte) (plumbing.Hash, error) {
	obj := sto.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(data); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return sto.SetEncodedObject(obj)
}

func readBlob(sto storer.EncodedObjectStorer, h plumbing.Hash) ([]byte, error) {
	b, err := object.GetBlob(sto, h)
	if err != nil {
		return nil, fmt.Errorf("gitwrite: read blob %s: %w", h, err)
	}
	r, err := b.Reader()
	if err != nil {
		return nil, fmt.Errorf("gitwrite: read blob %s: %w", h, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("gitwrite: read blob %s: %w", h, err)
	}
	return data, nil
}

// treeEntry returns the entry at p in tree t (nil tree: none).
func treeEntry(t *object.Tree, p string) (*object.TreeEntry, error) {
	if t == nil {
		return nil, nil
	}
	e, err := t.FindEntry(p)
	if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) || errors.Is(err, object.ErrFileNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if e.Mode == filemode.Dir {
		return nil, nil
	}
	return e, nil
}
