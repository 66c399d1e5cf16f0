package manifests

import (
	"errors"
	"io/fs"
)

// Renderers and decrypters plug formats that are not plain Kubernetes YAML
// into Load: a directory with a kustomization.yaml (package
// render/kustomize), a directory with a bosun-helm.yaml (package
// render/helm) and files encrypted with SOPS (package render/sops). Load
// keeps its guarantees for what they produce: every object is decoded
// strictly, defaulted and validated, and every problem names a file and,
// where known, a line.

// Claim is how a Renderer treats one directory of the tree Load walks.
type Claim int

const (
	// ClaimNone leaves the directory to Load: its files are read as plain
	// manifests and its subdirectories walked.
	ClaimNone Claim = iota
	// ClaimRender means the renderer renders the directory: Load reads
	// none of its files and walks none of its subdirectories, and passes
	// it to the renderer's Render.
	ClaimRender
	// ClaimSkip means the directory is the renderer's input but not
	// rendered on its own (a Helm chart's own directory, whose templates
	// are not YAML): Load reads nothing in it.
	ClaimSkip
)

// Rendered is one object a Renderer produced.
type Rendered struct {
	// Data is the object as one YAML or JSON document.
	Data []byte
	// File is the slash path, relative to the tree's root, of the file the
	// object comes from: the resource file a kustomization included, the
	// chart template that produced it, or for a generated object (a
	// kustomize configMapGenerator) the file that configured it.
	File string
	// Line is the line in File where the object (or the generator entry)
	// starts; 0 when not known.
	Line int
	// RenderedBy is the slash path of the file that drove the rendering:
	// "overlays/prod/kustomization.yaml" or "apps/web/bosun-helm.yaml".
	// Problems about the object name it, and sync records it in the
	// object's bosun.dev/rendered-by annotation.
	RenderedBy string
	// Encrypted reports that the object's content came from files
	// encrypted with SOPS (for the check that Secrets in Git are
	// encrypted).
	Encrypted bool
}

// Renderer renders directories of a tree that hold something other than
// plain manifests. Load asks every Renderer of Options about each
// directory it walks (the first one that claims it wins), then calls
// Render once per Renderer with the directories it claimed for rendering.
type Renderer interface {
	// Name names the format in problems and flags: "kustomize", "helm".
	Name() string
	// Claim reports how the renderer treats directory dir (a slash path
	// relative to the root of fsys; "." for the root), given its entries.
	Claim(fsys fs.FS, dir string, entries []fs.DirEntry) Claim
	// Render renders the directories claimed with ClaimRender, in the
	// order Load walked them, and returns their objects and every problem
	// found (File and Line set where known). It decides which directories
	// are roots: one that another claimed directory includes (a Kustomize
	// base its overlays use) is rendered only through it. fsys is the
	// whole tree, so a directory may use files outside the sync path but
	// never outside the tree. The returned error is for failures of fsys
	// itself; bad input is always Problems.
	Render(fsys fs.FS, dirs []string) ([]Rendered, Problems, error)
}

// ErrNoKey is wrapped by a Decrypter's error when the file is well formed
// but none of its recipients' keys was given. Offline (Options.Live nil,
// as in bosun validate) Load reports it as a warning, having checked the
// file's structure; at sync it is an error.
var ErrNoKey = errors.New("no key to decrypt it was given")

// Decrypter decrypts files encrypted with SOPS.
type Decrypter interface {
	// Encrypted reports whether data (a whole file) is encrypted.
	Encrypted(file string, data []byte) bool
	// Decrypt returns the plaintext of an encrypted file: the same
	// document with every encrypted value replaced by its plaintext on
	// the same line (so lines of the result are lines of the file) and
	// the sops metadata removed. It verifies the file's MAC. Its errors
	// name file and, where known, line, and never contain plaintext.
	Decrypt(file string, data []byte) ([]byte, error)
}

// FileEdit is a new content for one file of a tree, produced by a
// renderer's edit (bosun scale or set image on a rendered object).
type FileEdit struct {
	// Path is the slash path relative to the tree's root.
	Path string
	// Data is the file's whole new content.
	Data []byte
}

// RenderedEditor edits the sources of rendered objects: it finds which
// file (an overlay's images: entry, a values file) gives a field its
// value and returns the edit, having rendered the tree with it to check
// that the object then has the new value. Renderers implement it.
type RenderedEditor interface {
	// SetImages returns the edits that give the containers (and init
	// containers) named in images (container name -> image) of the object
	// kind namespace/name, rendered by renderedBy, their new images.
	SetImages(fsys fs.FS, renderedBy string, id ID, images map[string]string) ([]FileEdit, error)
	// SetReplicas returns the edits that set spec.replicas of the object.
	SetReplicas(fsys fs.FS, renderedBy string, id ID, replicas int32) ([]FileEdit, error)
}
