package kustomize

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/kustomize/kyaml/filesys"
	kyaml "sigs.k8s.io/yaml"

	"github.com/bosun-dev/bosun/manifests"
)

// treeRoot is where the tree appears in the filesystem krusty sees. It is
// an absolute path no real file is read from: every path under it is a
// path of the fs.FS.
const treeRoot = "/bosun-tree"

// errReadOnly is returned by every write to a treeFS.
var errReadOnly = errors.New("the repository is read-only while rendering")

// treeFS is kyaml's filesys.FileSystem over an fs.FS: read-only, paths
// under treeRoot are the tree's, nothing outside the tree is reachable
// (except, with remote bases allowed, the temporary directories kustomize
// clones them into). Files the Decrypter says are encrypted are decrypted
// on read and remembered.
type treeFS struct {
	fsys      fs.FS
	dec       manifests.Decrypter
	rootKust  string // repo path of the root kustomization file, read with buildMetadata added
	disk      filesys.FileSystem
	mu        sync.Mutex
	encrypted map[string]bool
	decErrs   map[string]error
	docs      map[string][]doc
}

func newTreeFS(fsys fs.FS, dec manifests.Decrypter, rootDir string, allowRemote bool) *treeFS {
	t := &treeFS{fsys: fsys, dec: dec, encrypted: map[string]bool{}, decErrs: map[string]error{}, docs: map[string][]doc{}}
	if name := kustFileName(fsys, rootDir); name != "" {
		t.rootKust = path.Join(rootDir, name)
	}
	if allowRemote {
		t.disk = filesys.MakeFsOnDisk()
	}
	return t
}

// abs is the path krusty sees for repo path p.
func abs(p string) string {
	if p == "." || p == "" {
		return treeRoot
	}
	return treeRoot + "/" + p
}

// rel turns a path krusty uses into a repo path; ok is false outside the
// tree.
func rel(p string) (string, bool) {
	if !filepath.IsAbs(p) {
		p = filepath.Join(treeRoot, p)
	}
	p = filepath.ToSlash(filepath.Clean(p))
	switch {
	case p == treeRoot:
		return ".", true
	case strings.HasPrefix(p, treeRoot+"/"):
		return strings.TrimPrefix(p, treeRoot+"/"), true
	}
	return "", false
}

// onDisk reports whether p is a kustomize clone directory that may be
// read from disk (remote bases allowed).
func (t *treeFS) onDisk(p string) bool {
	if t.disk == nil || !filepath.IsAbs(p) {
		return false
	}
	tmp := filepath.Clean(os.TempDir())
	r, err := filepath.Rel(tmp, filepath.Clean(p))
	return err == nil && strings.HasPrefix(r, "kustomize-")
}

func outside(p string) error {
	return fmt.Errorf("%s: %w: outside the repository", p, fs.ErrNotExist)
}

// Create implements filesys.FileSystem; the tree is read-only.
func (t *treeFS) Create(p string) (filesys.File, error) {
	if t.onDisk(p) {
		return t.disk.Create(p)
	}
	return nil, fmt.Errorf("create %s: %w", p, errReadOnly)
}

// Mkdir implements filesys.FileSystem; the tree is read-only.
func (t *treeFS) Mkdir(p string) error {
	if t.onDisk(p) {
		return t.disk.Mkdir(p)
	}
	return fmt.Errorf("mkdir %s: %w", p, errReadOnly)
}

// MkdirAll implements filesys.FileSystem; the tree is read-only.
func (t *treeFS) MkdirAll(p string) error {
	if t.onDisk(p) {
		return t.disk.MkdirAll(p)
	}
	return fmt.Errorf("mkdir %s: %w", p, errReadOnly)
}

// RemoveAll implements filesys.FileSystem; the tree is read-only.
func (t *treeFS) RemoveAll(p string) error {
	if t.onDisk(p) {
		return t.disk.RemoveAll(p)
	}
	return fmt.Errorf("remove %s: %w", p, errReadOnly)
}

// WriteFile implements filesys.FileSystem; the tree is read-only.
func (t *treeFS) WriteFile(p string, data []byte) error {
	if t.onDisk(p) {
		return t.disk.WriteFile(p, data)
	}
	return fmt.Errorf("write %s: %w", p, errReadOnly)
}

// Open implements filesys.FileSystem with a read-only in-memory file.
func (t *treeFS) Open(p string) (filesys.File, error) {
	if t.onDisk(p) {
		return t.disk.Open(p)
	}
	data, err := t.ReadFile(p)
	if err != nil {
		return nil, err
	}
	r, _ := rel(p)
	return &memFile{Reader: bytes.NewReader(data), name: path.Base(r), size: int64(len(data))}, nil
}

// IsDir implements filesys.FileSystem.
func (t *treeFS) IsDir(p string) bool {
	if t.onDisk(p) {
		return t.disk.IsDir(p)
	}
	r, ok := rel(p)
	if !ok {
		return false
	}
	st, err := fs.Stat(t.fsys, r)
	return err == nil && st.IsDir()
}

// ReadDir implements filesys.FileSystem.
func (t *treeFS) ReadDir(p string) ([]string, error) {
	if t.onDisk(p) {
		return t.disk.ReadDir(p)
	}
	r, ok := rel(p)
	if !ok {
		return nil, outside(p)
	}
	ents, err := fs.ReadDir(t.fsys, r)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return names, nil
}

// CleanedAbs implements filesys.FileSystem.
func (t *treeFS) CleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
	if t.onDisk(p) {
		return t.disk.CleanedAbs(p)
	}
	r, ok := rel(p)
	if !ok {
		return "", "", outside(p)
	}
	st, err := fs.Stat(t.fsys, r)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", r, fs.ErrNotExist)
	}
	if st.IsDir() {
		return filesys.ConfirmedDir(abs(r)), "", nil
	}
	return filesys.ConfirmedDir(abs(path.Dir(r))), path.Base(r), nil
}

// Exists implements filesys.FileSystem.
func (t *treeFS) Exists(p string) bool {
	if t.onDisk(p) {
		return t.disk.Exists(p)
	}
	r, ok := rel(p)
	if !ok {
		return false
	}
	_, err := fs.Stat(t.fsys, r)
	return err == nil
}

// Glob implements filesys.FileSystem.
func (t *treeFS) Glob(pattern string) ([]string, error) {
	if t.onDisk(pattern) {
		return t.disk.Glob(pattern)
	}
	r, ok := rel(pattern)
	if !ok {
		return nil, outside(pattern)
	}
	m, err := fs.Glob(t.fsys, r)
	if err != nil {
		return nil, err
	}
	for i := range m {
		m[i] = abs(m[i])
	}
	return m, nil
}

// ReadFile implements filesys.FileSystem: the file of the tree, decrypted
// when encrypted; the root kustomization with originAnnotations added to
// its buildMetadata.
func (t *treeFS) ReadFile(p string) ([]byte, error) {
	if t.onDisk(p) {
		return t.disk.ReadFile(p)
	}
	r, ok := rel(p)
	if !ok {
		return nil, outside(p)
	}
	data, err := fs.ReadFile(t.fsys, r)
	if err != nil {
		return nil, err
	}
	if t.dec != nil && t.dec.Encrypted(r, data) {
		plain, err := t.dec.Decrypt(r, data)
		t.mu.Lock()
		defer t.mu.Unlock()
		if err != nil {
			t.decErrs[r] = err
			return nil, fmt.Errorf("%s: cannot be decrypted", r)
		}
		t.encrypted[r] = true
		data = plain
	}
	if r == t.rootKust {
		return withOriginAnnotations(data), nil
	}
	return data, nil
}

// Walk implements filesys.FileSystem.
func (t *treeFS) Walk(p string, walkFn filepath.WalkFunc) error {
	if t.onDisk(p) {
		return t.disk.Walk(p, walkFn)
	}
	r, ok := rel(p)
	if !ok {
		return outside(p)
	}
	return fs.WalkDir(t.fsys, r, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			return walkFn(abs(q), nil, err)
		}
		info, ierr := d.Info()
		return walkFn(abs(q), info, ierr)
	})
}

// withOriginAnnotations adds "originAnnotations" to the buildMetadata of
// a kustomization, so that kustomize keeps the config.kubernetes.io/origin
// annotation on its output (bosun needs it for File and Line, and strips
// it afterwards). Kustomize reads buildMetadata from the root
// kustomization only and hands it down to the bases, so adding it to the
// root is enough. A file that does not parse is returned unchanged, for
// kustomize to report.
func withOriginAnnotations(data []byte) []byte {
	var k map[string]any
	if err := kyaml.Unmarshal(data, &k); err != nil || k == nil {
		return data
	}
	var meta []any
	if bm, ok := k["buildMetadata"].([]any); ok {
		meta = bm
	}
	for _, m := range meta {
		if m == "originAnnotations" {
			return data
		}
	}
	k["buildMetadata"] = append(meta, "originAnnotations")
	out, err := kyaml.Marshal(k)
	if err != nil {
		return data
	}
	return out
}

// memFile is a read-only filesys.File.
type memFile struct {
	*bytes.Reader
	name string
	size int64
}

// Write implements filesys.File; the file is read-only.
func (f *memFile) Write([]byte) (int, error) { return 0, errReadOnly }

// Close implements filesys.File.
func (f *memFile) Close() error { return nil }

// Stat implements filesys.File.
func (f *memFile) Stat() (os.FileInfo, error) { return memInfo{f.name, f.size}, nil }

// memInfo is the fs.FileInfo of a memFile.
type memInfo struct {
	name string
	size int64
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return 0o444 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }

var _ io.ReadWriteCloser = (*memFile)(nil)
