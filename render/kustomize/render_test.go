package kustomize

import (
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bosun-dev/bosun/manifests"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// fakeDecrypter treats a file whose first line starts with "#ENC" as
// encrypted; decrypting replaces that line by "# decrypted" (lines stay
// where they are) and fails when the file says BADMAC.
type fakeDecrypter struct{}

func (fakeDecrypter) Encrypted(_ string, data []byte) bool {
	return bytes.HasPrefix(data, []byte("#ENC"))
}

func (fakeDecrypter) Decrypt(file string, data []byte) ([]byte, error) {
	if bytes.Contains(data, []byte("BADMAC")) {
		return nil, fmt.Errorf("%s: MAC mismatch: the file was changed after it was encrypted", file)
	}
	_, rest, _ := bytes.Cut(data, []byte("\n"))
	return append([]byte("# decrypted\n"), rest...), nil
}

// dump writes rendered objects and problems as the golden text.
func dump(objs []manifests.Rendered, probs manifests.Problems) string {
	var b strings.Builder
	for _, o := range objs {
		fmt.Fprintf(&b, "# from %s:%d rendered-by %s encrypted=%v\n%s---\n", o.File, o.Line, o.RenderedBy, o.Encrypted, o.Data)
	}
	for _, p := range probs {
		fmt.Fprintf(&b, "problem: %s\n", p.String())
	}
	return b.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run with -update and review the diff):\n%s", name, got)
	}
}

// claimed returns the directories of fsys the renderer claims, in walk
// order, as manifests.Load would pass them.
func claimed(t *testing.T, r *Renderer, fsys fs.FS, root string) []string {
	t.Helper()
	var dirs []string
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		ents, err := fs.ReadDir(fsys, p)
		if err != nil {
			return err
		}
		if r.Claim(fsys, p, ents) == manifests.ClaimRender {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

func TestRenderGolden(t *testing.T) {
	tree := os.DirFS("testdata/tree")
	tests := []struct {
		name   string
		path   string
		dec    manifests.Decrypter
		golden string
	}{
		{name: "whole tree renders the overlays, not the base", path: ".", dec: fakeDecrypter{}, golden: "tree.yaml"},
		{name: "one overlay", path: "overlays/staging", dec: fakeDecrypter{}, golden: "staging.yaml"},
		{name: "the base alone", path: "base", golden: "base-nodecrypter.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(Options{Decrypter: tc.dec})
			objs, probs, err := r.Render(tree, claimed(t, r, tree, tc.path))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, dump(objs, probs))
		})
	}
}

func TestRenderDeterministic(t *testing.T) {
	tree := os.DirFS("testdata/tree")
	r := New(Options{Decrypter: fakeDecrypter{}})
	dirs := claimed(t, r, tree, ".")
	first, _, err := r.Render(tree, dirs)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		again, _, err := r.Render(tree, dirs)
		if err != nil {
			t.Fatal(err)
		}
		if dump(first, nil) != dump(again, nil) {
			t.Fatal("two renders of the same tree differ")
		}
	}
}

func TestFindDoc(t *testing.T) {
	docs := fileDocs([]byte(`kind: Service
metadata: {name: web}
---
kind: Service
metadata: {name: web-admin}
---
kind: Deployment
metadata: {name: web}
---
apiVersion: v1
kind: List
items:
  - kind: ConfigMap
    metadata: {name: a}
  - kind: ConfigMap
    metadata: {name: b}
`))
	tests := []struct {
		name, kind, obj string
		line            int
	}{
		{name: "exact name", kind: "Service", obj: "web-admin", line: 4},
		{name: "prefix and suffix added: the longest contained name", kind: "Service", obj: "prod-web-admin-v1", line: 4},
		{name: "prefix added", kind: "Service", obj: "prod-web", line: 1},
		{name: "renamed beyond recognition, only one of its kind", kind: "Deployment", obj: "other", line: 7},
		{name: "renamed, several of its kind: the first document", kind: "ConfigMap", obj: "zzz", line: 1},
		{name: "List items", kind: "ConfigMap", obj: "b", line: 15},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := findDoc(docs, tc.kind, tc.obj)
			if d == nil || d.line != tc.line {
				t.Fatalf("findDoc(%s %s) = %+v, want line %d", tc.kind, tc.obj, d, tc.line)
			}
		})
	}
}

// TestRenderedObjectsDecodeStrictly checks that what the renderer hands
// manifests.Load decodes strictly and validates: no bookkeeping
// annotations left, generated names consistent.
func TestRenderedObjectsDecodeStrictly(t *testing.T) {
	tree := os.DirFS("testdata/tree")
	r := New(Options{Decrypter: fakeDecrypter{}})
	objs, probs, err := r.Render(tree, claimed(t, r, tree, "."))
	if err != nil || len(probs) != 0 {
		t.Fatalf("problems %v, err %v", probs, err)
	}
	var all []manifests.Object
	for _, o := range objs {
		if strings.Contains(string(o.Data), "kubernetes.io/origin") || strings.Contains(string(o.Data), "internal.config.kubernetes.io") {
			t.Errorf("%s:%d keeps kustomize's bookkeeping annotations:\n%s", o.File, o.Line, o.Data)
		}
		decoded, ps := manifests.Decode(o.File, o.Data, manifests.Limits{})
		if err := ps.Err(); err != nil {
			t.Errorf("%s:%d: %v", o.File, o.Line, err)
		}
		all = append(all, decoded...)
	}
	if err := manifests.Validate(all).Err(); err != nil {
		t.Errorf("the rendered set does not validate: %v", err)
	}
}
